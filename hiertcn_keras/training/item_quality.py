"""Intrinsic quality of item vectors: can the previous item's nearest neighbours find the next?

DGL's PinSage example evaluates item embeddings this way: for every pair of items engaged one
after the other (here: consecutive events of a session among a split's scored targets), rank
the second item among the whole catalogue by inner product with the first item's vector and
report hit-rate@K and MRR. The query item itself is not a candidate. Ties count against the
vectors (conservative), so all-zero vectors score at the bottom, not by luck.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.metrics import RankingMetrics, inner_product_ranks


def consecutive_pairs(view):
    """(previous item, target) for scored targets whose previous event is in the same session."""
    same = np.zeros(len(view), dtype=bool)
    same[1:] = (view.session[1:] == view.session[:-1]) & (view.user[1:] == view.user[:-1])
    keep = same & view.score
    idx = np.flatnonzero(keep)
    prev, target = view.item[idx - 1], view.item[idx]
    distinct = prev != target
    return prev[distinct], target[distinct]


def next_item_quality(vectors, view, n_catalogue, ks=(1, 10, 20)):
    """Hit-rate@K and MRR of next-item retrieval by nearest neighbour of the previous item.

    Args:
        vectors: float array `[n_items, D]` (row 0 = padding).
        view: `EventView` (e.g. the test view).
        n_catalogue: int. Candidates are items `1..n_catalogue`.
        ks: tuple of ints.

    Returns:
        dict: `recall@K` (= hit-rate@K), `mrr`, `n_events`.
    """
    prev, target = consecutive_pairs(view)
    in_catalogue = (prev <= n_catalogue) & (target <= n_catalogue)
    prev, target = prev[in_catalogue], target[in_catalogue]
    table = np.asarray(vectors[: n_catalogue + 1], dtype=np.float32)
    queries = table[prev]
    candidates = np.arange(n_catalogue + 1) > 0
    ranks = inner_product_ranks(queries, table, target, candidates=candidates)
    # The query item is not a candidate: remove it where it was counted (its score ≥ the target's).
    self_score = np.einsum("nd,nd->n", queries, queries)
    target_score = np.einsum("nd,nd->n", queries, table[target])
    ranks = ranks - (self_score >= target_score).astype(ranks.dtype)
    metrics = RankingMetrics(n_catalogue - 1, ks=ks, ndcg_ks=())
    metrics.update(np.maximum(ranks, 1))
    result = metrics.result()
    return {k: v for k, v in result.items() if k.startswith("recall@") or k in ("mrr", "n_events")}
