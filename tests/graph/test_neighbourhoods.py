import numpy as np
import pytest
import scipy.sparse as sp

from hiertcn_keras.graph import importance_neighbourhoods


def undirected(n_items, edges, weights=None):
    """A symmetric csr graph from (i, j) pairs."""
    i, j = np.asarray(edges).T
    w = np.ones(len(i)) if weights is None else np.asarray(weights, dtype=float)
    graph = sp.coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n_items, n_items))
    return sp.csr_matrix(graph, dtype=np.float32)


def check_invariants(neighbours, weights, n_items, top_t):
    assert neighbours.shape == weights.shape == (n_items, top_t)
    assert neighbours.dtype == np.int32 and weights.dtype == np.float32
    sums = weights.sum(axis=1)
    assert np.allclose(sums[sums > 0], 1.0, atol=1e-6)
    assert np.array_equal(neighbours == 0, weights == 0)  # padding: index 0 with weight 0
    assert (np.diff(weights, axis=1) <= 0).all()  # most visited first
    assert not (neighbours == np.arange(n_items)[:, None])[:, :].any(where=neighbours > 0)


STAR = undirected(7, [(1, leaf) for leaf in range(2, 7)])  # centre 1, leaves 2..6


def test_star():
    neighbours, weights = importance_neighbourhoods(STAR, n_walks=2000, top_t=8, seed=0)
    check_invariants(neighbours, weights, 7, 8)
    # The centre reaches a leaf on every odd step: all 5 leaves, about 1/5 each, 3 pads.
    assert set(neighbours[1, :5]) == {2, 3, 4, 5, 6}
    np.testing.assert_allclose(weights[1, :5], 0.2, atol=0.04)  # std ≈ 0.008
    assert not neighbours[1, 5:].any() and not weights[1, 5:].any()
    # A leaf's first step always reaches the centre: the centre is its top neighbour, and the
    # other four leaves (reached on step 2) follow.
    assert (neighbours[2:, 0] == 1).all()
    for leaf in range(2, 7):
        assert set(neighbours[leaf, 1:5]) == set(range(2, 7)) - {leaf}
    assert not neighbours[0].any() and not weights[0].any()


def test_disconnected_cliques_never_cross():
    first, second = [1, 2, 3, 4], [5, 6, 7]
    edges = [(a, b) for group in (first, second) for a in group for b in group if a < b]
    neighbours, weights = importance_neighbourhoods(undirected(9, edges), n_walks=100, top_t=5)
    check_invariants(neighbours, weights, 9, 5)
    for group in (first, second):
        for item in group:
            row = neighbours[item][weights[item] > 0]
            assert set(row) == set(group) - {item}  # never the other clique, never itself
    # Item 8 is isolated: all padding.
    assert not neighbours[8].any() and not weights[8].any()


def test_chain_nearest_first():
    chain = undirected(6, [(1, 2), (2, 3), (3, 4), (4, 5)])
    neighbours, weights = importance_neighbourhoods(chain, n_walks=500, walk_length=3, top_t=4)
    check_invariants(neighbours, weights, 6, 4)
    # From the end 1: 2 is visited on every first step, so it has the largest weight; 5 is
    # four steps away, beyond walk_length=3, so it is never visited.
    assert neighbours[1, 0] == 2 and weights[1, 0] > weights[1, 1]
    assert 5 not in neighbours[1]
    assert neighbours[5, 0] == 4 and 1 not in neighbours[5]


def test_restart_probability():
    # Path 1 - 2 - 3, two steps. From 1, step 1 always visits 2; step 2 happens with
    # probability 1 - restart and then goes to 3 half the time (to 1 otherwise, not counted).
    # Expected visits per walk: 2 → 1, 3 → (1 - r)/2; weight of 3 = ((1 - r)/2) / (1 + (1 - r)/2).
    path = undirected(4, [(1, 2), (2, 3)])
    for restart, expected in ((0.0, 1 / 3), (0.5, 0.2)):
        neighbours, weights = importance_neighbourhoods(path, n_walks=4000, walk_length=2,
                                                        restart=restart, top_t=3)
        assert list(neighbours[1]) == [2, 3, 0]
        # Visits of 3 ~ Binomial(4000, 0.5 or 0.25): std of the weight ≤ 0.006.
        assert weights[1, 1] == pytest.approx(expected, abs=0.03)


def test_edge_weights_bias_the_walk():
    # Item 4's edges: to 2 (weight 3) and to 5 (weight 1); items 1-3 come first in the CSR
    # data so the per-row offset into the cumulative weights is exercised.
    graph = undirected(6, [(1, 3), (4, 2), (4, 5)], weights=[1, 3, 1])
    neighbours, weights = importance_neighbourhoods(graph, n_walks=4000, walk_length=1, top_t=2)
    assert list(neighbours[4]) == [2, 5]
    np.testing.assert_allclose(weights[4], [0.75, 0.25], atol=0.03)


def test_dead_end_in_directed_graph():
    # 1 → 2 only; 2 has no out-edges, so walks from 1 stop there and 2 gets no neighbours.
    graph = sp.csr_matrix((np.ones(1, np.float32), ([1], [2])), shape=(3, 3))
    neighbours, weights = importance_neighbourhoods(graph, n_walks=10, top_t=2)
    assert list(neighbours[1]) == [2, 0] and list(weights[1]) == [1.0, 0.0]
    assert not neighbours[2].any() and not weights[2].any()


def test_top_t_truncates_and_renormalises():
    neighbours, weights = importance_neighbourhoods(STAR, n_walks=200, top_t=3)
    assert (neighbours[1] > 1).all()
    np.testing.assert_allclose(weights.sum(axis=1)[1:], 1.0, atol=1e-6)


def random_graph(n_items=200, n_edges=1500, seed=0):
    rng = np.random.default_rng(seed)
    i, j = rng.integers(1, n_items, (2, n_edges))
    keep = i != j
    return undirected(n_items, np.c_[i[keep], j[keep]], rng.integers(1, 5, keep.sum()))


def test_reproducible_with_seed():
    graph = random_graph()
    a = importance_neighbourhoods(graph, seed=3, block_size=64)
    b = importance_neighbourhoods(graph, seed=3, block_size=64)
    c = importance_neighbourhoods(graph, seed=4, block_size=64)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    check_invariants(*a, 200, 10)


def test_block_size_does_not_change_the_support():
    # Different blocks draw different random streams; on a tiny graph with many walks the
    # visited sets (all nodes within 3 hops) are the same.
    graph = undirected(8, [(1, 2), (2, 3), (3, 4), (5, 6), (6, 7)])
    a, _ = importance_neighbourhoods(graph, n_walks=300, top_t=6, block_size=1)
    b, _ = importance_neighbourhoods(graph, n_walks=300, top_t=6)
    assert [set(r) for r in a] == [set(r) for r in b]


def test_padding_node_edges_are_ignored():
    graph = undirected(3, [(0, 1), (1, 2)])
    neighbours, weights = importance_neighbourhoods(graph, n_walks=20, top_t=2)
    assert list(neighbours[1]) == [2, 0] and list(neighbours[2]) == [1, 0]
    assert not weights[0].any()


def test_does_not_modify_the_graph():
    graph = sp.csr_matrix(undirected(3, [(0, 1), (1, 2)]), dtype=np.float64)
    before = graph.toarray()
    importance_neighbourhoods(graph, n_walks=5)
    np.testing.assert_array_equal(graph.toarray(), before)


@pytest.mark.parametrize("kwargs, message", [
    (dict(restart=1.0), "restart must be in"),
    (dict(top_t=0), "top_t must be"),
    (dict(n_walks=0), "n_walks must be"),
    (dict(walk_length=2.5), "walk_length must be"),
])
def test_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        importance_neighbourhoods(STAR, **kwargs)


def test_rejects_bad_graphs():
    with pytest.raises(ValueError, match="square"):
        importance_neighbourhoods(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="≥ 0"):
        importance_neighbourhoods(sp.csr_matrix(-np.eye(3)))
