"""The item embedding store: round trips, memory mapping, refusal of damaged stores, atomicity.

Matrices are tiny (5 × 3) and drawn with a fixed seed; the one large store is a 1 GiB sparse
file made with `os.truncate`, which takes no disk space and is never read.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import pytest

from hiertcn_keras.artifacts import embedding_store as store_module
from hiertcn_keras.artifacts import EmbeddingStore, FORMAT_VERSION, save_npy_as_store, write_store
from hiertcn_keras.artifacts.errors import DataError

IDS = [None, "a", "b", "c", "d"]


@pytest.fixture
def matrix():
    return np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)


@pytest.fixture
def store_path(tmp_path, matrix):
    return write_store(tmp_path / "items", matrix, IDS, config={"embedding_dim": 3})


def _edit_manifest(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _rss_bytes():
    # Current resident set (not the peak, which earlier tests may have raised already).
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_round_trip_float32(store_path, matrix):
    with EmbeddingStore.open(store_path, verify="full") as store:
        assert (store.n_items, store.dim, store.dtype) == (5, 3, "float32")
        assert store.config == {"embedding_dim": 3}
        np.testing.assert_array_equal(store.matrix, matrix)
        np.testing.assert_array_equal(store.as_array(), matrix)
        assert store.ids.tolist() == IDS
        # index_of("c") = 3 (row 0 is padding); vectors keep the index shape and add dim.
        np.testing.assert_array_equal(store.vectors(store.index_of(["c", "a"])), matrix[[3, 1]])
        assert store.vectors([[1], [4]]).shape == (2, 1, 3)
        assert store.vectors([1]).dtype == np.float32
    manifest = json.loads((store_path / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["nbytes"] == 5 * 3 * 4 == os.path.getsize(store_path / "embeddings.bin")
    # Raw little-endian row-major: the file is exactly the matrix's bytes.
    assert (store_path / "embeddings.bin").read_bytes() == matrix.astype("<f4").tobytes()


def test_round_trip_float16(tmp_path, matrix):
    path = write_store(tmp_path / "half", matrix, IDS, dtype="float16")
    with EmbeddingStore.open(path, verify="full") as store:
        assert store.dtype == "float16" and store.matrix.dtype == np.float16
        out = store.vectors(np.arange(5))
        assert out.dtype == np.float32
        # float16 keeps 11 significant bits: relative error ≤ 2^-11 ≈ 4.9e-4.
        np.testing.assert_allclose(out, matrix, rtol=2 ** -11, atol=0)
        assert store.as_array().dtype == np.float32


def test_integer_ids_and_dataclass_config(tmp_path, matrix):
    @dataclass(frozen=True)
    class Config:
        dim: int = 3

    path = write_store(tmp_path / "ints", matrix, [None, 10, 11, 12, 13], config=Config())
    with EmbeddingStore.open(path) as store:
        assert store.config == {"dim": 3}
        assert store.ids.tolist() == [None, 10, 11, 12, 13]
        np.testing.assert_array_equal(store.index_of([13, np.int64(10)]), [4, 1])
        assert store.index_of(12) == 3


def test_matrix_is_a_read_only_memmap(store_path):
    with EmbeddingStore.open(store_path) as store:
        assert isinstance(store.matrix, np.memmap)
        assert not store.matrix.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            store.matrix[1, 0] = 1.0
        # Gathers and copies are ordinary, writable arrays.
        assert type(store.vectors([1])) is np.ndarray
        assert store.as_array().flags.writeable


def test_row_zero_is_stored_as_given(tmp_path, matrix):
    # The store never zeroes the padding row; the models mask index 0 themselves.
    matrix[0] = [1.5, -2.0, 3.25]
    path = write_store(tmp_path / "pad", matrix, IDS)
    with EmbeddingStore.open(path) as store:
        np.testing.assert_array_equal(store.vectors([0]), [[1.5, -2.0, 3.25]])


def test_open_maps_without_reading(tmp_path, matrix):
    # A store whose manifest claims 2^21 × 128 float32 = 1 GiB, as a sparse file. Opening must
    # not read it: resident memory would grow by 1 GiB if it did.
    path = write_store(tmp_path / "big", matrix, IDS)
    n_items, dim = 2 ** 21, 128
    os.truncate(path / "embeddings.bin", n_items * dim * 4)
    _edit_manifest(path, n_items=n_items, dim=dim, nbytes=n_items * dim * 4)
    before = _rss_bytes()
    store = EmbeddingStore.open(path, verify="size")
    assert store.matrix.shape == (n_items, dim) and isinstance(store.matrix, np.memmap)
    assert store.vectors([n_items - 1]).shape == (1, dim)  # touches one page only
    grown = _rss_bytes() - before
    assert grown < 64 * 2 ** 20, grown
    # The id index (5 rows) no longer matches: refused when it is first loaded.
    with pytest.raises(DataError, match="5 ids for 2097152 matrix rows"):
        store.ids
    store.close()


def test_truncated_file_refused(store_path):
    os.truncate(store_path / "embeddings.bin", 5 * 3 * 4 - 4)
    with pytest.raises(DataError, match=r"embeddings\.bin.*truncated: 56 bytes, expected 60"):
        EmbeddingStore.open(store_path)
    # verify="none" skips the check; the mapping itself still cannot cover 60 bytes.
    with pytest.raises(DataError, match="cannot map"):
        EmbeddingStore.open(store_path, verify="none")


def test_flipped_byte_refused_with_full_verify(store_path):
    with open(store_path / "embeddings.bin", "r+b") as f:
        f.seek(7)
        byte = f.read(1)
        f.seek(7)
        f.write(bytes([byte[0] ^ 0x01]))
    EmbeddingStore.open(store_path, verify="size").close()  # the size is still right
    with pytest.raises(DataError, match=r"embeddings\.bin.*checksum mismatch"):
        EmbeddingStore.open(store_path, verify="full")


def test_missing_manifest_refused(store_path):
    (store_path / "manifest.json").unlink()
    with pytest.raises(DataError, match=r"manifest\.json.*missing manifest"):
        EmbeddingStore.open(store_path)


def test_wrong_version_refused(store_path):
    _edit_manifest(store_path, format_version=99)
    with pytest.raises(DataError, match=r"manifest\.json.*unknown format version 99"):
        EmbeddingStore.open(store_path)


def test_bad_manifest_values_refused(store_path):
    _edit_manifest(store_path, dtype="int8")
    with pytest.raises(DataError, match="dtype must be one of"):
        EmbeddingStore.open(store_path)


def test_failed_write_leaves_nothing(tmp_path, matrix, monkeypatch):
    # One row per chunk, NaN in the last row: rows 0-3 are written before the failure.
    monkeypatch.setattr(store_module, "_CHUNK_BYTES", 1)
    matrix[4, 1] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        write_store(tmp_path / "items", matrix, IDS)
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_store(store_path, matrix, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store_module.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_store(store_path, matrix * 2, IDS)
    assert os.listdir(store_path.parent) == ["items"]  # no temp leftovers
    with EmbeddingStore.open(store_path, verify="full") as store:
        np.testing.assert_array_equal(store.matrix, matrix)
    with pytest.raises(FileExistsError):
        write_store(store_path, matrix, IDS, overwrite=False)


def test_float16_overflow_refused(tmp_path, matrix):
    matrix[2, 0] = 1e5  # finite in float32, inf in float16 (max 65504)
    with pytest.raises(ValueError, match="finite as float16; row 2"):
        write_store(tmp_path / "half", matrix, IDS, dtype="float16")


@pytest.mark.parametrize("bad, ids, message", [
    (np.zeros(3), IDS, r"2-D \[n_items, dim\], got shape \(3,\)"),
    (np.zeros((5, 3)), IDS[:4], "4 ids for 5 rows"),
    (np.zeros((5, 3)), ["pad", "a", "b", "c", "d"], "padding row"),
    (np.zeros((5, 3)), [None, "a", "a", "c", "d"], r"unique; duplicated: \['a'\]"),
    (np.zeros((5, 3)), [None, "a", None, "c", "d"], r"null at rows \[2\]"),
    (np.zeros((0, 3)), [], r"≥ 1 row"),
])
def test_write_validates(tmp_path, bad, ids, message):
    with pytest.raises(ValueError, match=message):
        write_store(tmp_path / "x", bad, ids)
    assert not (tmp_path / "x").exists()


def test_index_of_unknown_ids(store_path):
    with EmbeddingStore.open(store_path) as store:
        with pytest.raises(KeyError, match=r"unknown item ids: \['zz', None\]"):
            store.index_of(["a", "zz", None])
        np.testing.assert_array_equal(store.index_of(["a", "zz"], missing="ignore"), [1, -1])
        with pytest.raises(IndexError, match=r"\[0, 5\), got \[5, -1\]"):
            store.vectors([1, 5, -1])


def test_closed_store_refuses_use(store_path):
    store = EmbeddingStore.open(store_path)
    matrix = store.matrix
    store.close()
    assert store.closed and matrix.shape == (5, 3)  # views held by the caller stay valid
    with pytest.raises(ValueError, match="closed"):
        store.vectors([1])


def test_save_npy_as_store(tmp_path, matrix):
    np.save(tmp_path / "m.npy", matrix)
    path = save_npy_as_store(tmp_path / "m.npy", tmp_path / "items", IDS, dtype="float16")
    with EmbeddingStore.open(path) as store:
        np.testing.assert_allclose(store.as_array(), matrix, rtol=2 ** -11)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_is_refused_at_open_by_default(store_path, value):
    # Issue 13, case 4: a NaN opened under the default check and was served.
    with open(store_path / "embeddings.bin", "r+b") as f:
        f.seek((3 * 3 + 1) * 4)  # row 3, column 1
        f.write(np.float32(value).tobytes())
    with pytest.raises(DataError, match=r"embeddings\.bin: row 3 holds a non-finite value"):
        EmbeddingStore.open(store_path)
    EmbeddingStore.open(store_path, verify="size").close()  # the cheap O(1) check is still there


def test_the_finite_check_streams_in_chunks(tmp_path, matrix, monkeypatch):
    monkeypatch.setattr(store_module, "_CHUNK_BYTES", 12)  # one row per chunk
    rows = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    rows[37, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        write_store(tmp_path / "s", rows, [None] + [f"i{k}" for k in range(39)])
    rows[37, 2] = 0
    path = write_store(tmp_path / "s", rows, [None] + [f"i{k}" for k in range(39)])
    with open(path / "embeddings.bin", "r+b") as f:
        f.seek((37 * 3 + 2) * 4)
        f.write(np.float32(np.nan).tobytes())
    with pytest.raises(DataError, match="row 37 holds a non-finite value"):
        EmbeddingStore.open(path)


def test_float16_infinity_is_refused(tmp_path, matrix):
    path = write_store(tmp_path / "h", matrix, IDS, dtype="float16")
    with open(path / "embeddings.bin", "r+b") as f:
        f.seek(3 * 2)
        f.write(np.float16(np.inf).tobytes())
    with pytest.raises(DataError, match="row 1 holds a non-finite value"):
        EmbeddingStore.open(path)


def test_a_folder_that_is_not_a_store_is_not_replaced(tmp_path, matrix):
    from hiertcn_keras.artifacts.output_guard import OutputError

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not a store written by hiertcn"):
        write_store(tmp_path / "mine", matrix, IDS)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    write_store(tmp_path / "mine", matrix, IDS, force=True)
    assert not (tmp_path / "mine" / "notes.txt").exists()
