import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models import item_vectors
from hiertcn_keras.models.item_vectors import (
    cooccurrence_counts,
    cooccurrence_vectors,
    load_item_vectors,
    ppmi,
)


def make_view(users, items, sessions):
    """An EventView from aligned lists (timestamps = order, positions within sessions)."""
    return EventView.from_arrays(users, items, sessions, split="train")


def test_counts_worked_example():
    # One user, items [1, 2 | 3] (| = session break), then user 2 with [4].
    view = make_view([1, 1, 1, 2], [1, 2, 3, 4], [0, 0, 1, 2])
    # window=1: the session pairs (1, 2); the window adds (2, 3) across the break; (1, 2) is not
    # counted twice; (3, 4) are different users.
    counts = cooccurrence_counts(view, 5, window=1).toarray()
    expected = np.zeros((5, 5))
    expected[1, 2] = expected[2, 1] = 1
    expected[2, 3] = expected[3, 2] = 1
    np.testing.assert_array_equal(counts, expected)
    # window=0: sessions only.
    counts = cooccurrence_counts(view, 5, window=0).toarray()
    expected[2, 3] = expected[3, 2] = 0
    np.testing.assert_array_equal(counts, expected)
    # window=2: (1, 3) is two events apart, so it joins.
    counts = cooccurrence_counts(view, 5, window=2).toarray()
    assert counts[1, 3] == counts[3, 1] == 1 and counts[2, 3] == 1 and counts[3, 4] == 0


def test_counts_repeated_item_drops_diagonal():
    # Session [1, 1, 2]: both events of item 1 pair with item 2 → C[1, 2] = 2; (1, 1) dropped.
    view = make_view([1, 1, 1], [1, 1, 2], [0, 0, 0])
    counts = cooccurrence_counts(view, 3, window=5).toarray()
    np.testing.assert_array_equal(counts, [[0, 0, 0], [0, 0, 2], [0, 2, 0]])


def test_ppmi_worked_example():
    # C01 = 1, C02 = 5, C13 = 5 (symmetric): row sums 6, 6, 5, 5; total 22.
    # PMI01 = log(1·22 / 36) < 0 → 0; PMI02 = PMI13 = log(5·22 / 30) = log(11/3).
    counts = np.zeros((4, 4))
    counts[0, 1] = counts[1, 0] = 1
    counts[0, 2] = counts[2, 0] = 5
    counts[1, 3] = counts[3, 1] = 5
    weights = ppmi(counts).toarray()
    assert weights[0, 1] == weights[1, 0] == 0
    np.testing.assert_allclose(weights[0, 2], np.log(11 / 3))
    np.testing.assert_allclose(weights[3, 1], np.log(11 / 3))
    assert ppmi(np.zeros((3, 3))).nnz == 0


def block_log(seed=0, n_users=60, noise=0.05):
    """Items 1..6 form block A, 7..12 block B; each user clicks in one block (rare noise)."""
    rng = np.random.default_rng(seed)
    users, items, sessions = [], [], []
    sid = 0
    for u in range(1, n_users + 1):
        block = np.arange(1, 7) if u % 2 else np.arange(7, 13)
        for _ in range(4):
            for _ in range(4):
                it = rng.choice(block)
                if rng.random() < noise:
                    it = rng.integers(1, 13)
                users.append(u), items.append(it), sessions.append(sid)
            sid += 1
    return make_view(users, items, sessions)


def test_block_structure_and_zero_rows():
    view = block_log()
    n_items = 14  # item 13 never occurs
    vectors = cooccurrence_vectors(view, n_items, dim=4, window=3, seed=0)
    assert vectors.shape == (14, 4) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], 0)
    np.testing.assert_array_equal(vectors[13], 0)
    np.testing.assert_allclose(np.linalg.norm(vectors[1:13], axis=1), 1, rtol=1e-5)
    cos = vectors[1:13] @ vectors[1:13].T
    block = np.repeat([0, 1], 6)
    same = block[:, None] == block[None, :]
    off_diag = ~np.eye(12, dtype=bool)
    assert cos[same & off_diag].mean() > cos[~same].mean() + 0.5
    np.fill_diagonal(cos, -np.inf)
    nearest = cos.argmax(axis=1)
    np.testing.assert_array_equal(block[nearest], block)


def test_isolated_items_and_small_dim_padding():
    # Item 3 only in a singleton session with window=0: no co-occurrence → zero row.
    # Only 2 items co-occur, so with dim=8 the trailing components are 0.
    view = make_view([1, 1, 2], [1, 2, 3], [0, 0, 1])
    vectors = cooccurrence_vectors(view, 4, dim=8, window=0)
    np.testing.assert_array_equal(vectors[[0, 3]], 0)
    np.testing.assert_array_equal(vectors[:, 2:], 0)
    np.testing.assert_allclose(np.linalg.norm(vectors[1:3], axis=1), 1, rtol=1e-6)
    # An empty log gives all zeros.
    empty = make_view([], [], [])
    np.testing.assert_array_equal(cooccurrence_vectors(empty, 4, dim=3), np.zeros((4, 3)))


def test_deterministic_and_arpack_path_agrees(monkeypatch):
    view = block_log(seed=1, noise=0.2)
    dense = cooccurrence_vectors(view, 13, dim=3, seed=0)
    np.testing.assert_array_equal(dense, cooccurrence_vectors(view, 13, dim=3, seed=0))
    monkeypatch.setattr(item_vectors, "_DENSE_SVD_LIMIT", 0)
    sparse = cooccurrence_vectors(view, 13, dim=3, seed=0)
    np.testing.assert_array_equal(sparse, cooccurrence_vectors(view, 13, dim=3, seed=0))
    # Same subspace (signs are fixed, so the vectors themselves agree up to rounding).
    np.testing.assert_allclose(sparse, dense, atol=1e-4)


def test_argument_errors():
    view = make_view([1], [1], [0])
    with pytest.raises(ValueError, match="dim must be ≥ 1, got 0"):
        cooccurrence_vectors(view, 2, dim=0)
    with pytest.raises(ValueError, match="window must be ≥ 0, got -1"):
        cooccurrence_counts(view, 2, window=-1)
    with pytest.raises(ValueError, match=r"view items must lie in \[0, 3\), got min 5, max 5"):
        cooccurrence_counts(make_view([1], [5], [0]), 3)


def test_load_item_vectors(tmp_path):
    full = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "full.npy", full)
    loaded = load_item_vectors(tmp_path / "full.npy", 4)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, full)
    np.save(tmp_path / "no_pad.npy", full[1:])
    loaded = load_item_vectors(tmp_path / "no_pad.npy", 4)
    np.testing.assert_array_equal(loaded, np.concatenate([np.zeros((1, 3)), full[1:]]))


def test_load_item_vectors_errors(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(5, 3\), expected \[7, D\].*\[6, D\]"):
        load_item_vectors(tmp_path / "v.npy", 7)
    np.save(tmp_path / "flat.npy", np.zeros(7, dtype=np.float32))
    with pytest.raises(ValueError, match=r"2-D matrix.*got shape \(7,\)"):
        load_item_vectors(tmp_path / "flat.npy", 7)
    bad = np.zeros((3, 2), dtype=np.float32)
    bad[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="non-finite value at row 2, column 1"):
        load_item_vectors(tmp_path / "nan.npy", 3)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_item_vectors(tmp_path / "missing.npy", 3)
