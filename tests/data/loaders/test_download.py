"""Tests for `hiertcn_keras.data.download`, on `file://` URLs only (never the network)."""

import hashlib
import zipfile

import pytest

from hiertcn_keras.data import download as download_module
from hiertcn_keras.data.download import DATASETS, Dataset, download, fetch_url

PAYLOAD = b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n"
# Digests of PAYLOAD (from `md5sum` / `sha256sum`), written out.
PAYLOAD_MD5 = "07ffacb2847df4cc1c49b9423b934dc7"
PAYLOAD_SHA256 = "177ae9c7c9ce84685810463e0238b0046661ecc2d37a8770370193b7625ebf77"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "served" / "u.data"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_registry_has_movielens_with_published_checksums():
    assert DATASETS["ml-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert DATASETS["ml-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert (DATASETS["ml-100k"].size, DATASETS["ml-1m"].size) == (4_924_029, 5_917_549)
    assert DATASETS["ml-100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert (DATASETS["ml-100k"].extract, DATASETS["ml-1m"].extract) == ("ml-100k", "ml-1m")
    assert not DATASETS["ml-latest-small"].verifiable


def test_fetch_url_with_right_checksums(source, tmp_path):
    dest = tmp_path / "out" / "u.data"
    result = fetch_url(source.as_uri(), dest, sha256=PAYLOAD_SHA256, md5=PAYLOAD_MD5,
                       size=len(PAYLOAD))
    assert result == dest and dest.read_bytes() == PAYLOAD
    assert listing(dest.parent) == ["u.data"]  # no temporary file left


@pytest.mark.parametrize("checks", [{"sha256": "0" * 64}, {"md5": "0" * 32}, {"size": 3}])
def test_fetch_url_with_wrong_checksum_leaves_nothing(source, tmp_path, checks):
    dest = tmp_path / "out" / "u.data"
    with pytest.raises(ValueError) as caught:
        fetch_url(source.as_uri(), dest, **checks)
    name = next(iter(checks))
    assert str(caught.value).startswith(f"{source.as_uri()}: {name} mismatch: expected")
    assert listing(dest.parent) == []


def test_fetch_url_error_names_the_url(tmp_path):
    url = (tmp_path / "missing.zip").as_uri()
    with pytest.raises(OSError, match=f"cannot download {url}"):
        fetch_url(url, tmp_path / "out" / "missing.zip")
    assert listing(tmp_path / "out") == []


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """Register `tiny` (a zip holding tiny/u.data) and `unverified`, served from tmp_path."""
    archive = tmp_path / "served" / "tiny.zip"
    archive.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tiny/u.data", PAYLOAD)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    registry = {
        "tiny": Dataset(url=archive.as_uri(), filename="tiny.zip", sha256=digest,
                        extract="tiny"),
        "corrupt": Dataset(url=archive.as_uri(), filename="tiny.zip", sha256="f" * 64,
                           extract="tiny"),
        "unverified": Dataset(url=archive.as_uri(), filename="tiny.zip", extract="tiny"),
    }
    monkeypatch.setattr(download_module, "DATASETS", registry)
    return registry


def test_download_verifies_and_extracts(fake_registry, tmp_path):
    dest = tmp_path / "data"
    folder = download("tiny", dest)
    assert folder == dest / "tiny"
    assert (folder / "u.data").read_bytes() == PAYLOAD
    assert listing(dest) == ["tiny", "tiny.zip"]
    # A second call finds the folder and does nothing.
    (folder / "u.data").write_bytes(b"edited")
    assert download("tiny", dest) == folder and (folder / "u.data").read_bytes() == b"edited"
    # force=True downloads and unpacks again.
    download("tiny", dest, force=True)
    assert (folder / "u.data").read_bytes() == PAYLOAD


def test_download_with_wrong_checksum_leaves_nothing(fake_registry, tmp_path):
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match="sha256 mismatch"):
        download("corrupt", dest)
    assert listing(dest) == []


def test_cached_archive_is_verified_before_unpacking(fake_registry, tmp_path):
    dest = tmp_path / "data"
    download("tiny", dest)
    for path in (dest / "tiny").iterdir():
        path.unlink()
    (dest / "tiny").rmdir()
    (dest / "tiny.zip").write_bytes(b"truncated")
    with pytest.raises(ValueError) as caught:
        download("tiny", dest)
    assert str(caught.value).startswith(
        f"{dest / 'tiny.zip'} (downloaded from {fake_registry['tiny'].url}): sha256 mismatch")
    assert listing(dest) == ["tiny.zip"]


def test_download_refuses_unverifiable_data_unless_told(fake_registry, tmp_path):
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match="no published checksum .* pass verify=False"):
        download("unverified", dest)
    assert not dest.exists()
    assert (download("unverified", dest, verify=False) / "u.data").read_bytes() == PAYLOAD


def test_download_rejects_an_unknown_name(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset 'ml-2k'; known: ml-100k, ml-1m"):
        download("ml-2k", tmp_path)
