import numpy as np
import scipy.sparse as sp

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.graph import cointeraction_graph, graph_stats


def make_view(users, items, sessions):
    """An EventView from aligned lists (timestamps = order, positions within sessions)."""
    return EventView.from_arrays(users, items, sessions, split="train")


# User 1: items [1, 2, 1 | 3] (| = session break); user 2: [2, 3]. Items 4 and 5 never occur.
TINY = make_view([1, 1, 1, 1, 2, 2], [1, 2, 1, 3, 2, 3], [0, 0, 0, 1, 2, 2])


def test_tiny_view_hand_counts():
    graph = cointeraction_graph(TINY, 6, window=1)
    assert isinstance(graph, sp.csr_matrix)
    assert graph.dtype == np.float32 and graph.shape == (6, 6)
    expected = np.zeros((6, 6), dtype=np.float32)
    # Session [1, 2, 1]: the event pairs (1st, 2nd) and (3rd, 2nd) both link items 1 and 2.
    expected[1, 2] = expected[2, 1] = 2
    # window=1: the 3rd event (item 1) and the 4th (item 3) are adjacent across the break.
    expected[1, 3] = expected[3, 1] = 1
    # User 2's session [2, 3]; user 1's last event and user 2's first are different users.
    expected[2, 3] = expected[3, 2] = 1
    np.testing.assert_array_equal(graph.toarray(), expected)


def test_window_zero_links_sessions_only():
    graph = cointeraction_graph(TINY, 6, window=0).toarray()
    assert graph[1, 3] == 0 and graph[3, 1] == 0
    assert graph[1, 2] == 2 and graph[2, 3] == 1


def test_symmetric_zero_diagonal_canonical():
    rng = np.random.default_rng(0)
    n = 300
    users = np.repeat(np.arange(30), 10)
    sessions = np.repeat(np.arange(100), 3)
    view = make_view(users, rng.integers(1, 40, n), sessions)
    graph = cointeraction_graph(view, 40, window=2)
    assert abs(graph - graph.T).max() == 0
    assert not graph.diagonal().any()
    assert graph.has_sorted_indices and (graph.data > 0).all()


def test_padding_row_and_column_are_empty():
    # Item 0 should never occur; if it does, it still gets no edges.
    graph = cointeraction_graph(make_view([1, 1, 1], [0, 1, 2], [0, 0, 0]), 3).toarray()
    assert not graph[0].any() and not graph[:, 0].any()
    assert graph[1, 2] == 1 and graph[2, 1] == 1


def test_graph_stats_tiny():
    stats = graph_stats(cointeraction_graph(TINY, 6, window=1))
    # Items 1..5; edges {1,2} w=2, {1,3} w=1, {2,3} w=1: a triangle, items 4 and 5 isolated.
    assert stats == {"items": 5, "nodes_with_edges": 3, "isolated_items": 2, "edges": 3,
                     "mean_degree": 2.0, "max_degree": 2, "total_weight": 4.0}


def test_graph_stats_empty():
    stats = graph_stats(sp.csr_matrix((4, 4), dtype=np.float32))
    assert stats["edges"] == 0 and stats["isolated_items"] == 3 and stats["mean_degree"] == 0.0
