"""Sharded stores: workers writing disjoint row ranges in any order make one whole store."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hiertcn_keras.artifacts import EmbeddingStore
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.store_shards import parse_shard, shard_file, shard_rows, write_shard

N_ITEMS, DIM = 11, 3
IDS = [None] + [f"item{i}" for i in range(1, N_ITEMS)]


@pytest.fixture
def matrix():
    m = np.random.default_rng(0).normal(size=(N_ITEMS, DIM)).astype(np.float32)
    m[0] = 0
    return m


def _write(path, matrix, index, count, fingerprint="model-a", **kwargs):
    start, stop = shard_rows(N_ITEMS, index, count)
    return write_shard(path, matrix[start:stop], IDS, n_items=N_ITEMS, index=index, count=count,
                       model_fingerprint=fingerprint, **kwargs)


def test_rows_are_split_like_array_split():
    # 11 rows in 4 shards: 3, 3, 3, 2 (the first 11 % 4 = 3 shards get one more).
    assert [shard_rows(11, i, 4) for i in range(4)] == [(0, 3), (3, 6), (6, 9), (9, 11)]
    for n, count in [(1, 1), (5, 5), (7, 3), (100, 7)]:
        expected = [(int(a[0]), int(a[-1]) + 1) for a in np.array_split(np.arange(n), count)]
        assert [shard_rows(n, i, count) for i in range(count)] == expected


@pytest.mark.parametrize("text", ["3", "a/b", "4/4", "-1/4", "0/0"])
def test_bad_shard_text_is_refused(text):
    with pytest.raises(ValueError, match="i/n"):
        parse_shard(text)


def test_shards_in_any_order_make_the_whole_store(tmp_path, matrix):
    path = tmp_path / "items"
    for index in (2, 0, 3, 1):
        _write(path, matrix, index, 4)
    with EmbeddingStore.open(path, verify="full") as store:
        np.testing.assert_array_equal(store.as_array(), matrix)
        assert store.ids.tolist() == IDS
        assert store.index_of("item4") == 4
    # Rewriting a shard (a retried worker) changes nothing.
    _write(path, matrix, 1, 4)
    with EmbeddingStore.open(path, verify="full") as store:
        np.testing.assert_array_equal(store.as_array(), matrix)


def test_an_incomplete_store_is_refused_naming_the_missing_shards(tmp_path, matrix):
    path = tmp_path / "items"
    _write(path, matrix, 0, 3)
    _write(path, matrix, 2, 3)
    with pytest.raises(DataError, match=r"1 of 3 shards not written yet \(1/3\)"):
        EmbeddingStore.open(path)


def test_a_shard_from_another_model_or_shape_is_refused(tmp_path, matrix):
    path = tmp_path / "items"
    _write(path, matrix, 0, 2)
    with pytest.raises(DataError, match="model_fingerprint"):
        _write(path, matrix, 1, 2, fingerprint="model-b")
    with pytest.raises(DataError, match="n_shards"):
        _write(path, matrix, 1, 3)
    with pytest.raises(DataError, match="dtype"):
        _write(path, matrix, 1, 2, dtype="float16")


def test_a_shard_record_from_another_model_is_refused_on_open(tmp_path, matrix):
    path = tmp_path / "items"
    _write(path, matrix, 0, 2)
    _write(path, matrix, 1, 2)
    record = shard_file(path, 1, 2)
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "model_fingerprint": "model-b"}))
    with pytest.raises(DataError, match="comes from model model-b"):
        EmbeddingStore.open(path)


def test_full_verification_finds_corrupted_rows(tmp_path, matrix):
    path = tmp_path / "items"
    for index in range(2):
        _write(path, matrix, index, 2)
    raw = bytearray((path / "embeddings.bin").read_bytes())
    raw[-1] ^= 0xFF  # the last row belongs to shard 1 of 2 (rows 6..10)
    (path / "embeddings.bin").write_bytes(bytes(raw))
    EmbeddingStore.open(path).close()  # the size is right: a cheap open does not read the rows
    with pytest.raises(DataError, match=r"checksum mismatch in shard 1/2 \(rows \[6, 11\)\)"):
        EmbeddingStore.open(path, verify="full")


def test_wrong_rows_for_the_shard_are_refused(tmp_path, matrix):
    with pytest.raises(ValueError, match=r"holds rows \[0, 6\)"):
        write_shard(tmp_path / "items", matrix[:5], IDS, n_items=N_ITEMS, index=0, count=2,
                    model_fingerprint="m")
    assert not (tmp_path / "items" / "embeddings.bin").exists()


def test_concurrent_workers_fill_one_store(tmp_path, matrix):
    # Threads, not processes: the writes are system calls (open, ftruncate, pwrite, rename)
    # that race the same way, without forking a test process that may hold TensorFlow.
    path = tmp_path / "items"
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda i: _write(path, matrix, i, 5), range(5)))
    with EmbeddingStore.open(path, verify="full") as store:
        np.testing.assert_array_equal(store.as_array(), matrix)


def test_bad_ids_leave_nothing_behind(tmp_path, matrix):
    start, stop = shard_rows(N_ITEMS, 0, 2)
    with pytest.raises(ValueError, match="ids must be unique"):
        write_shard(tmp_path / "items", matrix[start:stop], [None] + ["same"] * (N_ITEMS - 1), n_items=N_ITEMS,
                    index=0, count=2, model_fingerprint="m")
    assert not (tmp_path / "items").exists()
