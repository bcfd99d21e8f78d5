"""Top-K items by inner product: exact brute force (the default), and the retriever interface.

Shape legend: Q queries (user embeddings), E their size, N = n_catalogue candidates, K.

`ExactRetriever` scores every candidate: `u · w_i + b_i` for rows `1..N` of the ranking table,
in chunks of rows (so memory stays `Q × chunk`, whatever N, and a memory-mapped table is read
in order), keeping a running top-K with `argpartition`. Results are sorted by score, then by
index (ties at equal score list the lower index first; which of several items tied exactly at
the K-th score is kept is deterministic but unspecified). `faiss_retriever` has the
approximate indexes for large catalogues; `retrievers.build_retriever` picks one by name. Indices returned are model indices (≥ 1).
"""

from __future__ import annotations

import numpy as np


def exclusion(exclude, q):
    """`exclude` (`None` or Q collections of indices) as Q tuples of ints, checked."""
    if exclude is None:
        return [()] * q
    if len(exclude) != q:
        raise ValueError(f"exclude must hold one collection per query: {len(exclude)} for {q} queries")
    return [tuple(int(i) for i in e) if e is not None else () for e in exclude]


def check_queries(queries, dim):
    """`queries` as float32 `[Q, dim]` (a single `[dim]` query becomes `[1, dim]`), checked."""
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must be [Q, {dim}], got shape {queries.shape}")
    return queries


def check_boost(boost, n):
    """`boost` (`None` or `(indices [M], values [M])`, model indices 1..n) as int64 and float32 arrays."""
    if boost is None:
        return None
    indices, values = np.asarray(boost[0], np.int64).reshape(-1), np.asarray(boost[1], np.float32).reshape(-1)
    if len(indices) != len(values):
        raise ValueError(f"boost indices and values differ in length: {len(indices)} and {len(values)}")
    if len(indices) and (indices.min() < 1 or indices.max() > n):
        raise ValueError(f"boost indices must be model indices in 1..{n}")
    return (indices, values) if len(indices) else None


def sort_top(scores, indices, k):
    """Order candidate `(scores, indices)` rows `[Q, M]` by score desc, index asc; keep `k`."""
    order = np.lexsort((indices, -scores), axis=-1)[:, :k]
    return np.take_along_axis(indices, order, -1), np.take_along_axis(scores, order, -1)


class ExactRetriever:
    """Exact top-K over the catalogue by (biased) inner product.

    Args:
        table: float array `[N + 1, E]` (row 0 unused; a memory map is fine).
        bias: float array `[N + 1]` or `None`.
        chunk_rows: int. Candidates scored per chunk. Defaults to 65536.

    Example:

    >>> retriever = ExactRetriever(catalog.table, catalog.bias)         # doctest: +SKIP
    >>> indices, scores = retriever.search(u[None], k=10, exclude=[{3, 5}])
    """

    kind = "exact"

    def __init__(self, table, bias=None, *, chunk_rows=65536):
        if table.ndim != 2 or table.shape[0] < 2:
            raise ValueError(f"table must be [N + 1, E] with N ≥ 1, got shape {table.shape}")
        self.table = table
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float32)
        self.n = int(table.shape[0]) - 1
        self.dim = int(table.shape[1])
        self.chunk_rows = int(chunk_rows)
        self.report = {"kind": "exact", "n_items": self.n}

    def scores(self, queries, start=1, stop=None, boost=None):
        """Scores `[Q, stop − start]` of candidate rows `start..stop−1` (`boost`: see `search`)."""
        stop = self.n + 1 if stop is None else stop
        rows = np.asarray(self.table[start:stop], dtype=np.float32)
        out = queries @ rows.T
        if boost is not None:
            inside = (boost[0] >= start) & (boost[0] < stop)
            out[:, boost[0][inside] - start] += boost[1][inside]
        if self.bias is not None:
            out += self.bias[start:stop]
        return out

    def search(self, queries, k, *, exclude=None, boost=None):
        """Top-k candidates of every query.

        Args:
            queries: float array `[Q, E]` (or `[E]`).
            k: int ≥ 1; more than the candidates left returns them all.
            exclude: `None` or Q collections of indices never to return.
            boost: `None` or `(indices [M], values [M])`: added to those items' scores for
                every query (unique model indices).

        Returns:
            `(indices int64 [Q, k'], scores float32 [Q, k'])`, best first, k' = min(k, N).
        """
        queries = check_queries(queries, self.dim)
        q = len(queries)
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        k = min(int(k), self.n)
        excluded = exclusion(exclude, q)
        boost = check_boost(boost, self.n)
        best_s = np.full((q, 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((q, 0), dtype=np.int64)
        for start in range(1, self.n + 1, self.chunk_rows):
            stop = min(self.n + 1, start + self.chunk_rows)
            s = self.scores(queries, start, stop, boost)
            for row, items in enumerate(excluded):
                inside = [i - start for i in items if start <= i < stop]
                if inside:
                    s[row, inside] = -np.inf
            kk = min(k, s.shape[1])
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
            cand_i = np.concatenate([best_i, part + start], axis=1)
            best_i, best_s = sort_top(cand_s, cand_i, k)
        keep = np.isfinite(best_s)
        if not keep.all():  # excluded items never fill a slot
            width = int(keep.sum(axis=1).min())
            best_i, best_s = best_i[:, :width], best_s[:, :width]
        return best_i, best_s.astype(np.float32)

