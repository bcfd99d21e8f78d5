"""The item co-interaction graph: items are nodes, co-interacted items are linked.

Shape legend: I items (the vocabulary, index 0 = padding, never a node).

Two items are linked when one user interacted with both in the same session, or at most `window`
events apart in the user's history (docs/concepts.md#item-embeddings); the edge weight is the number
of such co-occurring event pairs. `cooccurrence_counts` counts them (the PPMI item vectors of
`models/item_vectors.py` start from the same counts); `cointeraction_graph` fixes the graph's
contract: float32, symmetric, zero diagonal, no padding node, canonical CSR (sorted indices, no
explicit zeros).

scipy.sparse holds the graph; nothing here needs Keras.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _check_view_items(view, n_items):
    if n_items < 2:
        raise ValueError(f"n_items must be ≥ 2 (index 0 is padding), got {n_items}")
    item = np.asarray(view.item)
    if len(item) and (item.min() < 0 or item.max() >= n_items):
        raise ValueError(
            f"view items must lie in [0, {n_items}), got min {item.min()}, max {item.max()}"
        )
    return item


def cooccurrence_counts(train_view, n_items, window=5):
    """Symmetric co-occurrence counts of item pairs in the training events.

    Args:
        train_view: `EventView`. The training events, sorted by (user, time).
        n_items: int. I, the vocabulary size including index 0.
        window: int. Events at most this far apart in a user's history co-occur even across
            sessions (0: only within sessions). Defaults to 5.

    Returns:
        `scipy.sparse.csr_matrix` float64 `[I, I]`, symmetric, zero diagonal. Entry (i, j)
        counts the ordered event pairs (a, b), a ≠ b, with items (i, j) that co-occur.
    """
    if window < 0:
        raise ValueError(f"window must be ≥ 0, got {window}")
    item = _check_view_items(train_view, n_items).astype(np.int64)
    user = np.asarray(train_view.user)
    session = np.asarray(train_view.session)
    n = len(item)
    if n == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = (session[1:] != session[:-1]) | (user[1:] != user[:-1])
    sid = np.cumsum(starts) - 1
    # Within sessions: S^T S with S [sessions, I] counts every ordered pair of events of a
    # session; its diagonal (same item, including an event with itself) is dropped below.
    s_mat = sp.csr_matrix((np.ones(n), (sid, item)), shape=(int(sid[-1]) + 1, n_items))
    counts = (s_mat.T @ s_mat).tocsr()
    # Across sessions: pairs d = 1..window events apart, same user, different sessions (pairs
    # inside a session are already counted above). Both directions, to stay symmetric.
    rows, cols = [], []
    for d in range(1, min(window, n - 1) + 1):
        a = np.arange(n - d)
        keep = (user[a] == user[a + d]) & (sid[a] != sid[a + d])
        rows += [item[a[keep]], item[a[keep] + d]]
        cols += [item[a[keep] + d], item[a[keep]]]
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
        counts = counts + sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_items, n_items))
    counts = sp.csr_matrix(counts - sp.diags(counts.diagonal()))
    counts.eliminate_zeros()
    return counts


def cointeraction_graph(view, n_items, window=5):
    """The weighted item co-interaction graph of a view's events.

    Args:
        view: `EventView`. The (training) events, sorted by (user, time).
        n_items: int. I, the vocabulary size including the padding index 0.
        window: int. Events at most this far apart in a user's history are linked even
            across sessions (0: only within sessions). Defaults to 5.

    Returns:
        `scipy.sparse.csr_matrix` float32 `[I, I]`: symmetric, zero diagonal, row and
        column 0 empty; entry (i, j) counts the co-occurring event pairs of items i and j.

    Example:

    >>> graph = cointeraction_graph(data.view("train"), data.n_items)   # doctest: +SKIP
    >>> graph_stats(graph)["edges"]                                     # doctest: +SKIP
    """
    counts = cooccurrence_counts(view, n_items, window=window)
    graph = sp.csr_matrix(counts, dtype=np.float32)
    # Index 0 is padding: no edges, whatever the view holds.
    if graph.nnz and (graph.indptr[1] > 0 or (graph.indices == 0).any()):
        keep = sp.diags(np.r_[0.0, np.ones(n_items - 1)].astype(np.float32))
        graph = sp.csr_matrix(keep @ graph @ keep)
    graph.eliminate_zeros()
    graph.sort_indices()
    return graph


def graph_stats(graph):
    """Size and connectivity of an item graph (the padding node 0 is not counted).

    Args:
        graph: sparse `[I, I]`, symmetric (as `cointeraction_graph` returns).

    Returns:
        dict: `items` (I − 1 real items), `nodes_with_edges`, `isolated_items` (items without
        any edge), `edges` (undirected, self-loops not counted), `mean_degree` and
        `max_degree` (over the nodes with edges, 0 if none), `total_weight` (sum of the
        undirected edge weights).
    """
    graph = sp.csr_matrix(graph)
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ValueError(f"graph must be a square [I, I] matrix, got shape {graph.shape}")
    graph = sp.csr_matrix(graph - sp.diags(graph.diagonal()))
    graph.eliminate_zeros()
    degree = np.diff(graph.indptr)[1:]
    with_edges = degree > 0
    n_with = int(with_edges.sum())
    return {
        "items": int(graph.shape[0] - 1),
        "nodes_with_edges": n_with,
        "isolated_items": int(len(degree) - n_with),
        "edges": int(graph.nnz // 2),
        "mean_degree": float(degree[with_edges].mean()) if n_with else 0.0,
        "max_degree": int(degree.max()) if len(degree) else 0,
        "total_weight": float(graph.data.astype(np.float64).sum() / 2),
    }
