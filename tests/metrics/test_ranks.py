import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.metrics import (
    TIE_POLICIES,
    chunk_bytes,
    count_ranks,
    inner_product_ranks,
    plan_chunks,
)


def brute_force_ranks(scores, targets, tie_policy, mask):
    """Sort-based reference: order the candidates by score, break ties for or against the
    target, and read off the target's 1-based position."""
    ranks = []
    for row, t in zip(scores, targets):
        cand = np.flatnonzero(mask)
        # lexsort: last key primary. Descending score, then the tie-break key.
        behind = (cand == t).astype(int)  # conservative: the target after its equals
        positions = {}
        for name, tie_key in (("conservative", behind), ("optimistic", -behind)):
            order = cand[np.lexsort((tie_key, -row[cand]))]
            positions[name] = int(np.flatnonzero(order == t)[0]) + 1
        if tie_policy == "average":
            ranks.append((positions["conservative"] + positions["optimistic"]) / 2)
        else:
            ranks.append(positions[tie_policy])
    return np.array(ranks)


# One event, scores [9, 5, 7, 7, 7], target column 2, column 0 (padding) is not a candidate.
# Candidates 1..4: greater than 7 → none (the 9 is padding); equal besides the target → 3, 4.
HAND_SCORES = np.array([[9.0, 5.0, 7.0, 7.0, 7.0]])
HAND_TARGET = np.array([2])


@pytest.mark.parametrize(
    "tie_policy, expected",
    [("conservative", 3), ("optimistic", 1), ("average", 2.0)],
)
def test_hand_example_ties_and_masked_padding(tie_policy, expected):
    got = count_ranks(HAND_SCORES, HAND_TARGET, tie_policy, candidates=slice(1, None))
    assert got.tolist() == [expected]


def test_hand_example_all_candidate_forms_agree():
    # With column 0 a candidate too, its 9 beats the target: conservative 1 + 1 + 2 = 4.
    assert count_ranks(HAND_SCORES, HAND_TARGET).tolist() == [4]
    mask = np.array([False, True, True, True, True])
    for candidates in (slice(1, None), range(1, 5), mask, np.array([1, 2, 3, 4])):
        assert count_ranks(HAND_SCORES, HAND_TARGET, candidates=candidates).tolist() == [3]
    # Dropping item 4 (say: unseen in training) leaves one tie: conservative 2.
    mask[4] = False
    assert count_ranks(HAND_SCORES, HAND_TARGET, candidates=mask).tolist() == [2]


def test_all_equal_scores_conservative_vs_official_optimistic():
    # C = 6 items, all scoring 0: conservative puts the target behind all 5 others → rank 6 = C;
    # the official strict count → rank 1; average → 3.5.
    scores = np.zeros((3, 6))
    targets = np.array([0, 3, 5])
    assert count_ranks(scores, targets, "conservative").tolist() == [6, 6, 6]
    assert count_ranks(scores, targets, "optimistic").tolist() == [1, 1, 1]
    assert count_ranks(scores, targets, "average").tolist() == [3.5, 3.5, 3.5]
    # The same through inner products: zero item vectors score 0 for every query.
    queries, items = np.ones((3, 2), "float32"), np.zeros((6, 2), "float32")
    for chunk_size, policy, expected in [(2, "conservative", 6), (4, "optimistic", 1)]:
        got = inner_product_ranks(queries, items, targets, tie_policy=policy, chunk_size=chunk_size)
        assert got.tolist() == [expected] * 3


def test_dtypes_and_infinities():
    # Row 0: target −inf ties with another −inf: conservative 1 + 2 (greater) + 1 (tie) = 4.
    scores = np.array([[1.0, -np.inf, 0.0, -np.inf], [np.inf, 1.0, 2.0, 3.0]])
    got = count_ranks(scores, np.array([1, 0]))
    assert got.tolist() == [4, 1] and got.dtype == np.int64
    assert count_ranks(scores, np.array([1, 0]), "average").dtype == np.float64


def test_validation():
    with pytest.raises(ValueError, match="NaN"):
        count_ranks(np.array([[0.0, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match="not candidates"):
        count_ranks(HAND_SCORES, np.array([0]), candidates=slice(1, None))
    with pytest.raises(ValueError, match="targets must lie in"):
        count_ranks(HAND_SCORES, np.array([5]))
    with pytest.raises(ValueError, match="tie_policy must be one of"):
        count_ranks(HAND_SCORES, HAND_TARGET, "random")
    with pytest.raises(ValueError, match="boolean candidates mask must have shape"):
        count_ranks(HAND_SCORES, HAND_TARGET, candidates=np.ones(4, bool))


@st.composite
def ranking_problems(draw):
    n = draw(st.integers(1, 6))
    c = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # Few distinct values → many ties; or continuous scores.
    if draw(st.booleans()):
        scores = rng.integers(0, draw(st.integers(1, 4)), size=(n, c)).astype(float)
    else:
        scores = rng.normal(size=(n, c))
    mask = rng.random(c) < 0.7
    targets = rng.integers(0, c, size=n)
    mask[targets] = True
    return scores, targets, mask


@settings(max_examples=60, deadline=None)
@given(ranking_problems(), st.sampled_from(TIE_POLICIES))
def test_agrees_with_sort_based_reference(problem, tie_policy):
    scores, targets, mask = problem
    got = count_ranks(scores, targets, tie_policy, candidates=mask)
    np.testing.assert_array_equal(got, brute_force_ranks(scores, targets, tie_policy, mask))


def integer_embeddings(seed, n=40, c=53, d=4):
    """Small-integer vectors: every dot product is exact in float32, so ties are real and
    the chunked and unchunked paths must agree exactly."""
    rng = np.random.default_rng(seed)
    queries = rng.integers(-2, 3, size=(n, d)).astype("float32")
    items = rng.integers(-2, 3, size=(c, d)).astype("float32")
    bias = rng.integers(-1, 2, size=c).astype("float32")
    targets = rng.integers(1, c, size=n)
    return queries, items, bias, targets


@pytest.mark.parametrize("tie_policy", TIE_POLICIES)
@pytest.mark.parametrize("chunk_size", [1, 2, 7, 52, 53, 1000])
def test_chunked_equals_unchunked(tie_policy, chunk_size):
    queries, items, bias, targets = integer_embeddings(seed=chunk_size)
    mask = np.ones(items.shape[0], bool)
    mask[0] = False  # padding
    mask[10:13] = False  # unseen in training
    mask[targets] = True
    expected = count_ranks(queries @ items.T + bias, targets, tie_policy, candidates=mask)
    got = inner_product_ranks(
        queries, items, targets, item_bias=bias, candidates=mask, tie_policy=tie_policy,
        chunk_size=chunk_size,
    )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("cells", [(1, 1), (3, 1), (8, 5), (40, 7)])
def test_budget_forces_small_chunks(cells):
    queries, items, bias, targets = integer_embeddings(seed=1)
    d = queries.shape[1]
    budget = chunk_bytes(*cells, d)
    plan = plan_chunks(len(queries), len(items), d, budget)
    assert plan.peak_bytes <= budget
    if cells == (1, 1):
        # Exactly one query against one item fits: 40 × 53 single-cell matmuls.
        assert (plan.query_chunk, plan.item_chunk) == (1, 1)
    expected = count_ranks(queries @ items.T + bias, targets, candidates=slice(1, None))
    got = inner_product_ranks(
        queries, items, targets, item_bias=bias, candidates=slice(1, None),
        memory_budget_bytes=budget,
    )
    np.testing.assert_array_equal(got, expected)


def test_continuous_scores_and_target_never_ties_with_itself():
    # Random float data: no ties, so optimistic == conservative everywhere; a target counted
    # against itself (recomputed by another float path) would make them differ by one.
    rng = np.random.default_rng(7)
    queries = rng.normal(size=(64, 16)).astype("float32")
    items = rng.normal(size=(151, 16)).astype("float32")
    targets = rng.integers(0, 151, size=64)
    expected = count_ranks(queries @ items.T, targets)
    for chunk_size in (1, 17, 64, 151):
        for policy in ("conservative", "optimistic"):
            got = inner_product_ranks(queries, items, targets, tie_policy=policy,
                                      chunk_size=chunk_size)
            np.testing.assert_array_equal(got, expected)


def test_duplicate_target_vectors_tie_exactly():
    # Items 5 and 6 copy item 4's vector; every target is item 4, so conservative − optimistic
    # is exactly 2 (the two copies), whatever the chunking.
    rng = np.random.default_rng(8)
    items = rng.normal(size=(12, 8)).astype("float32")
    items[5] = items[6] = items[4]
    queries = rng.normal(size=(9, 8)).astype("float32")
    targets = np.full(9, 4)
    for chunk_size in (4, 12):  # the copies share the target's chunk
        c = inner_product_ranks(queries, items, targets, chunk_size=chunk_size)
        o = inner_product_ranks(queries, items, targets, tie_policy="optimistic",
                                chunk_size=chunk_size)
        np.testing.assert_array_equal(c - o, 2)


def test_peak_memory_is_bounded_not_n_by_c():
    # n × C float32 would be 64 × 100,000 × 4 B = 25.6 MB; with a 1 MiB budget the traced
    # peak (NumPy reports its allocations to tracemalloc) stays within a few budgets.
    rng = np.random.default_rng(9)
    queries = rng.normal(size=(64, 8)).astype("float32")
    items = rng.normal(size=(100_000, 8)).astype("float32")
    targets = rng.integers(0, 100_000, size=64)
    budget = 2**20
    tracemalloc.start()
    try:
        inner_product_ranks(queries, items, targets, memory_budget_bytes=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * budget


def test_memmap_items_and_validation(tmp_path):
    queries, items, bias, targets = integer_embeddings(seed=3)
    path = tmp_path / "items.f32"
    mm = np.memmap(path, dtype="float32", mode="w+", shape=items.shape)
    mm[:] = items
    mm.flush()
    ro = np.memmap(path, dtype="float32", mode="r", shape=items.shape)
    np.testing.assert_array_equal(
        inner_product_ranks(queries, ro, targets, chunk_size=10),
        count_ranks(queries @ items.T, targets),
    )
    with pytest.raises(ValueError, match="items must have shape"):
        inner_product_ranks(queries, items[:, :2], targets)
    with pytest.raises(ValueError, match="cannot hold one query"):
        inner_product_ranks(queries, items, targets, memory_budget_bytes=10)
    with pytest.raises(ValueError, match="NaN"):
        bad = items.copy()
        bad[3, 0] = np.nan
        inner_product_ranks(queries, bad, targets)
    with pytest.raises(ValueError, match="not candidates"):
        inner_product_ranks(queries, items, np.zeros_like(targets), candidates=slice(1, None))


def test_no_queries():
    assert inner_product_ranks(np.zeros((0, 3)), np.ones((5, 3)), np.zeros(0, int)).shape == (0,)
    assert count_ranks(np.zeros((0, 5)), np.zeros(0, int)).shape == (0,)
