import functools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.baselines import BASELINES
from hiertcn_keras.models.simple_baselines import (
    MaxItem,
    MovingAverage,
    Pop,
    SessionKNN,
)

NEG = -np.inf
R6, R1 = np.sqrt(0.6), np.sqrt(0.1)


def make_view(users, items, sessions, split="test"):
    """An EventView from aligned lists (timestamps = order, positions within sessions)."""
    return EventView.from_arrays(users, items, sessions, split=split)


# Hand-picked 2-D item space: n_items = 7 (0 = padding), catalogue 1..5, item 6 outside it.
VECTORS = np.array(
    [[0, 0], [1, 0], [0, 1], [1, 1], [2, 0], [-1, -2], [1, -1]], dtype=np.float32
)
TRAIN = make_view([1, 1, 1, 2, 2, 2], [1, 1, 2, 3, 3, 3], [0, 0, 0, 1, 1, 1], split="train")
# User 1: [1, 2, 3 | 4]; user 2: [6, 2].
VIEW = make_view([1, 1, 1, 1, 2, 2], [1, 2, 3, 4, 6, 2], [0, 0, 0, 1, 2, 2])
ALL = np.arange(6)


def fitted(cls, **kwargs):
    return cls(**kwargs).fit(TRAIN, 7, 5, item_vectors=VECTORS)


def test_pop_equals_training_counts():
    # Training items [1, 1, 2, 3, 3, 3] → counts 2, 1, 3, 0, 0 for items 1..5.
    scores = fitted(Pop).scores(VIEW, ALL)
    assert scores.shape == (6, 6) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, np.tile([NEG, 2, 1, 3, 0, 0], (6, 1)))


def test_moving_average_worked_example():
    # Candidates v1..v5 = (1,0), (0,1), (1,1), (2,0), (-1,-2). Query = mean of earlier items:
    expected = [
        [NEG, 0, 0, 0, 0, 0],  # user 1's first event: zero query
        [NEG, 1, 0, 1, 2, -1],  # q = v1 = (1, 0)
        [NEG, 0.5, 0.5, 1, 1, -1.5],  # q = (v1 + v2)/2 = (.5, .5)
        [NEG, 2 / 3, 2 / 3, 4 / 3, 4 / 3, -2],  # q = (v1+v2+v3)/3 = (2/3, 2/3), across sessions
        [NEG, 0, 0, 0, 0, 0],  # user 2's first event never sees user 1
        [NEG, 1, -1, 0, 2, 1],  # q = v6 = (1, -1): an out-of-catalogue item still counts
    ]
    model = fitted(MovingAverage)
    np.testing.assert_allclose(model.scores(VIEW, ALL), expected, rtol=1e-6)
    queries = model.query_vectors(VIEW, ALL)
    np.testing.assert_allclose(queries[3], [2 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(queries @ VECTORS[1:6].T, model.scores(VIEW, ALL)[:, 1:], rtol=1e-6)


def test_max_item_worked_example():
    # score(c) = max over earlier items x of <v_x, v_c>.
    expected = [
        [NEG, 0, 0, 0, 0, 0],  # no history
        [NEG, 1, 0, 1, 2, -1],  # {v1}
        [NEG, 1, 1, 1, 2, -1],  # {v1, v2}: c5 = max(-1, -2) = -1 (not clamped to 0)
        [NEG, 1, 1, 2, 2, -1],  # {v1, v2, v3}: c3 = <v3, v3> = 2, c5 = max(-1, -2, -3)
        [NEG, 0, 0, 0, 0, 0],  # user 2's first event
        [NEG, 1, -1, 0, 2, 1],  # {v6}
    ]
    np.testing.assert_allclose(fitted(MaxItem).scores(VIEW, ALL), expected, rtol=1e-6)


@pytest.mark.parametrize("cls", [MovingAverage, MaxItem])
def test_window_cut_off(cls):
    # Items [1, 2 × 10, 3]: the 12th event's window of 10 holds the ten 2s; the 11th-previous
    # event (item 1) is ignored. With it, MV would give c1 = 1/11 and MaxItem c1 = 1.
    view = make_view([1] * 12, [1] + [2] * 10 + [3], [0] * 12)
    expected = [NEG, 0, 1, 1, 0, -2]  # <v2, v_c> for c = 1..5
    np.testing.assert_allclose(fitted(cls).scores(view, [11]), [expected], rtol=1e-6)
    # One event earlier, the window still reaches item 1: c1 = 1/10 (MV) or 1 (MaxItem).
    c1 = fitted(cls).scores(view, [10])[0, 1]
    np.testing.assert_allclose(c1, 0.1 if cls is MovingAverage else 1.0, rtol=1e-6)
    # window=3 only looks 3 events back.
    np.testing.assert_allclose(fitted(cls, window=3).scores(view, [4]), [expected], rtol=1e-6)


def test_max_item_without_similarity_table(monkeypatch):
    # Large catalogues skip the [I, C] similarity table and do one matmul per window slot.
    import hiertcn_keras.models.simple_baselines as mod

    with_table = fitted(MaxItem)
    monkeypatch.setattr(mod, "_SIM_TABLE_BYTES", 0)
    without = fitted(MaxItem)
    assert with_table._sim_table is not None and without._sim_table is None
    np.testing.assert_allclose(without.scores(VIEW, ALL), with_table.scores(VIEW, ALL), rtol=1e-6)


# Session kNN: training sessions {1, 2, 3}, {4, 5}, {1, 4}; catalogue 1..5.
KNN_TRAIN = make_view([1, 1, 1, 2, 2, 3, 3], [1, 2, 3, 4, 5, 1, 4], [0, 0, 0, 1, 1, 2, 2], "train")


def knn(**kwargs):
    return SessionKNN(**kwargs).fit(KNN_TRAIN, 6, 5)


def test_session_knn_worked_example():
    # Current session [1, 2, (target)]: q = {1: 1/2, 2: 2/2}, |q| = sqrt(1.25).
    # sim({1,2,3}) = 1.5 / sqrt(1.25 * 3) = sqrt(.6); sim({4,5}) = 0; sim({1,4}) = .5 / sqrt(2.5) = sqrt(.1).
    view = make_view([9, 9, 9], [1, 2, 5], [0, 0, 0])
    scores = knn(k=2, user_sessions=0).scores(view, [2])
    np.testing.assert_allclose(scores, [[NEG, R6 + R1, R6, R6, R1, 0]], rtol=1e-6)
    # k=1: the obvious neighbour {1, 2, 3} alone.
    scores = knn(k=1, user_sessions=0).scores(view, [2])
    np.testing.assert_allclose(scores, [[NEG, R6, R6, R6, 0, 0]], rtol=1e-6)
    # The session's first event has an empty query: all zeros.
    np.testing.assert_array_equal(knn().scores(view, [0]), [[NEG, 0, 0, 0, 0, 0]])


def test_session_knn_user_history():
    # Sessions [4] then [(target)]: the session is empty, the previous one adds {4: 0.5}.
    # cos with {4, 5} and {1, 4} = .5 / (.5 * sqrt 2) = 1/sqrt 2 each → item 4 = sqrt 2.
    view = make_view([9, 9], [4, 2], [0, 1])
    h = 1 / np.sqrt(2)
    np.testing.assert_allclose(knn().scores(view, [1]), [[NEG, h, 0, 0, 2 * h, h]], rtol=1e-6)
    np.testing.assert_array_equal(knn(user_sessions=0).scores(view, [1]), [[NEG, 0, 0, 0, 0, 0]])


def test_session_knn_query_weights():
    # User 9: sessions [1], [2], [3], then [1, 2, 1, (target)]; user_sessions=2 adds sessions
    # [2] and [3] (not [1]) at 0.5; the current session weighs 1/3, 2/3, 3/3 and a repeated
    # item keeps its largest weight: item 1 → max(1/3, 1) = 1, item 2 →
    # max(0.5, 2/3) = 2/3, item 3 → 0.5. Item 6 is outside the catalogue: dropped.
    view = make_view([8, 9, 9, 9, 9, 9, 9, 9], [5, 1, 2, 3, 1, 2, 1, 4], [0, 1, 2, 3, 4, 4, 4, 4])
    model = SessionKNN().fit(KNN_TRAIN, 7, 5)
    query = model.query_matrix(view, [7, 1]).toarray()
    np.testing.assert_allclose(query[0], [0, 1, 2 / 3, 0.5, 0, 0], rtol=1e-6)
    np.testing.assert_array_equal(query[1], 0)  # user 9's first event never sees user 8
    view = make_view([9, 9], [6, 1], [0, 0])
    np.testing.assert_array_equal(model.query_matrix(view, [1]).toarray(), 0)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),  # rows
    st.integers(1, 9),  # columns
    st.integers(1, 4),  # k
    st.integers(0, 2**32 - 1),
    st.booleans(),  # tiny padding blocks
)
def test_top_k_per_row_matches_a_sort(n_rows, n_cols, k, seed, tiny_blocks):
    import hiertcn_keras.models.baseline_base as mod

    rng = np.random.default_rng(seed)
    # Few distinct values, so ties at the k-th place are common; columns in random CSR order.
    dense = rng.integers(0, 4, (n_rows, n_cols)).astype(np.float32) * (rng.random((n_rows, n_cols)) < 0.7)
    coo = sp.coo_matrix(dense)
    perm = rng.permutation(coo.nnz)
    matrix = sp.csr_matrix((coo.data[perm], (coo.row[perm], coo.col[perm])), shape=dense.shape)
    saved = mod.TOP_K_PAD_CELLS
    mod.TOP_K_PAD_CELLS = 1 if tiny_blocks else saved
    try:
        got = mod.top_k_per_row(matrix, k).toarray()
    finally:
        mod.TOP_K_PAD_CELLS = saved
    # Reference: per row, sort the non-zeros by (value descending, column), keep k.
    expected = np.zeros_like(dense)
    for r in range(n_rows):
        cols = sorted(np.flatnonzero(dense[r]), key=lambda c: (-dense[r, c], c))[:k]
        expected[r, cols] = dense[r, cols]
    np.testing.assert_array_equal(got, expected)


# ---- causality: no leakage from the target, later events or other users ----------------

N_ITEMS, N_CAT = 8, 6  # item 7 is outside the catalogue


@functools.cache
def leak_models():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, 21), 6)
    train = make_view(users, rng.integers(1, N_CAT + 1, len(users)), np.arange(len(users)) // 3, "train")
    return [
        Pop().fit(train, N_ITEMS, N_CAT),
        MovingAverage(window=3, dim=4).fit(train, N_ITEMS, N_CAT),
        MaxItem(window=3, dim=4).fit(train, N_ITEMS, N_CAT),
        SessionKNN(k=3, user_sessions=1).fit(train, N_ITEMS, N_CAT),
    ]


@st.composite
def views_and_target(draw):
    n_users = draw(st.integers(1, 3))
    users, items, breaks = [], [], []
    for u in range(n_users):
        n = draw(st.integers(1, 12))
        users += [u + 1] * n
        items += draw(st.lists(st.integers(1, N_ITEMS - 1), min_size=n, max_size=n))
        breaks += [True] + draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    sessions = np.cumsum(breaks)
    target = draw(st.integers(0, len(items) - 1))
    later_items = draw(st.lists(st.integers(1, N_ITEMS - 1), min_size=len(items), max_size=len(items)))
    later_breaks = draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)))
    return users, items, sessions, target, later_items, later_breaks


@settings(max_examples=60, deadline=None)
@given(views_and_target())
def test_no_leakage(case):
    users, items, sessions, target, later_items, later_breaks = case
    view = make_view(users, items, sessions)
    # Changed: the target's item and every later event's item and session break (of any user).
    items2 = np.array(items)
    items2[target:] = np.array(later_items)[target:]
    breaks = np.r_[True, np.diff(sessions) != 0]
    breaks[target + 1 :] = np.array(later_breaks)[target + 1 :]
    breaks[1:] |= np.diff(users) != 0
    changed = make_view(users, items2, np.cumsum(breaks))
    # Cut: only the target's user, up to the target.
    start = int(np.searchsorted(users, users[target]))
    cut = make_view(users[start : target + 1], items[start : target + 1], sessions[start : target + 1])
    for model in leak_models():
        expected = model.scores(view, [target])
        np.testing.assert_array_equal(model.scores(changed, [target]), expected, err_msg=model.name)
        np.testing.assert_array_equal(model.scores(cut, [target - start]), expected, err_msg=model.name)
        # Scored together with every other event (one chunk spanning all users): the same.
        together = model.scores(changed, np.arange(len(items)))[target]
        np.testing.assert_allclose(together, expected[0], rtol=1e-6, atol=1e-7, err_msg=model.name)


@settings(max_examples=20, deadline=None)
@given(views_and_target())
def test_chunking_does_not_change_scores(case):
    users, items, sessions = case[:3]
    view = make_view(users, items, sessions)
    events = np.arange(len(items))[::-1]  # any order
    for model in leak_models():
        whole = model.scores(view, events)
        model.chunk_size, saved = 2, model.chunk_size
        try:
            np.testing.assert_allclose(model.scores(view, events), whole, rtol=1e-5, atol=1e-6)
        finally:
            model.chunk_size = saved


@pytest.mark.parametrize("index", range(4))
def test_first_event_of_a_user_sees_no_other_user(index):
    model = leak_models()[index]
    view = make_view([1, 1, 1, 2], [1, 2, 3, 4], [0, 0, 0, 1])
    alone = make_view([2], [4], [1])
    np.testing.assert_array_equal(model.scores(view, [3]), model.scores(alone, [0]))
    if model.name != "pop":
        np.testing.assert_array_equal(model.scores(view, [3])[0, 1:], 0)


# ---- interface and validation ----------------------------------------------------------


def test_registry_and_default_item_vectors():
    assert {"maxitem", "mv", "pop", "sknn"} <= set(BASELINES)
    model = MovingAverage(dim=3).fit(TRAIN, 7, 5)
    assert model.item_vectors.shape == (7, 3)
    assert model.scores(VIEW, np.zeros(0, dtype=int)).shape == (0, 6)


def test_errors():
    with pytest.raises(RuntimeError, match="Pop is not fitted"):
        Pop().scores(VIEW, [0])
    with pytest.raises(ValueError, match=r"event indices must lie in \[0, 6\), got min 0, max 6"):
        fitted(Pop).scores(VIEW, [0, 6])
    with pytest.raises(ValueError, match="1-D integer array"):
        fitted(Pop).scores(VIEW, [0.5])
    shape_error = r"item_vectors must have shape \[n_items, D\] = \[7, D\], got \(6, 2\)"
    with pytest.raises(ValueError, match=shape_error):
        MovingAverage().fit(TRAIN, 7, 5, item_vectors=VECTORS[1:])
    with pytest.raises(ValueError, match=r"n_catalogue must lie in \[1, n_items - 1 = 6\], got 7"):
        Pop().fit(TRAIN, 7, 7)
    with pytest.raises(ValueError, match="window must be an integer ≥ 1, got 0"):
        MaxItem(window=0)
    with pytest.raises(ValueError, match=r"training items must lie in \[1, 3\), got min 1, max 3"):
        Pop().fit(TRAIN, 3, 2)
    unsorted = make_view([2, 2, 1, 1], [1, 2, 3, 4], [0, 0, 1, 1])
    with pytest.raises(ValueError, match="sorted by \\(user, time\\)"):
        knn().scores(unsorted, [3])
