"""The one chunked file checksum against hashlib on the whole bytes."""

import hashlib

from hiertcn_keras.artifacts.hashing import file_digests, sha256_file


def test_chunked_digest_equals_hashlib_on_the_whole_file(tmp_path):
    data = bytes(range(256)) * 41  # 10,496 bytes: many 1000-byte chunks and a partial last one
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path, chunk=1000) == hashlib.sha256(data).hexdigest()
    assert file_digests(path, ("sha256", "md5"), chunk=7) == {
        "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def test_several_files_hash_as_their_concatenation(tmp_path):
    (tmp_path / "a").write_bytes(b"model")
    (tmp_path / "b").write_bytes(b"config")
    assert sha256_file(tmp_path / "a", tmp_path / "b") == hashlib.sha256(b"modelconfig").hexdigest()
    assert sha256_file(tmp_path / "b", tmp_path / "a") != sha256_file(tmp_path / "a", tmp_path / "b")
