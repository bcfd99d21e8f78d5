"""The base class of the simple baselines and the vectorised helpers they share.

Every simple baseline (`models/baselines.py` lists them) subclasses `SimpleBaseline`:
`fit(train_view, n_items, n_catalogue, item_vectors=None)` checks its arguments and calls
`_fit`; `scores(view, events)` checks the events, scores them in chunks of `chunk_size`
through `_score_chunk` and puts -inf in the padding column 0. The helpers are the pieces of
view arithmetic several baselines need: session starts, each event's previous events of the
same user, and the k largest entries of every row of a sparse matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Cells of the padded [rows, max nnz] block in which `top_k_per_row` partitions.
TOP_K_PAD_CELLS = 8 * 2**20


def check_positive(name, value, minimum=1):
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def session_starts(user, session):
    starts = np.ones(len(user), dtype=bool)
    starts[1:] = (session[1:] != session[:-1]) | (user[1:] != user[:-1])
    return starts


def previous_events(view, events, window):
    """The W previous events of each event's user, most recent first.

    Returns:
        `(index, valid)`: int64 `[N, W]` view indices (clipped to ≥ 0) and bool `[N, W]`.
    """
    index = events[:, None] - np.arange(1, window + 1)
    safe = np.maximum(index, 0)
    user = np.asarray(view.user)
    valid = (index >= 0) & (user[safe] == user[events][:, None])
    # A user's events are contiguous: stop at the first event of another user.
    return safe, np.logical_and.accumulate(valid, axis=1)


class SimpleBaseline:
    """Base class: argument checks, chunking and the padding column.

    Args:
        chunk_size: int. Events scored per vectorised step (bounds the temporary memory).
    """

    name = "baseline"
    # Tunable constructor arguments → candidate values (a search space for the tuner).
    PARAMS = {}

    def __init__(self, chunk_size=2048):
        self.chunk_size = check_positive("chunk_size", chunk_size)
        self.n_items = None
        self.n_catalogue = None

    def fit(self, train_view, n_items, n_catalogue, item_vectors=None):
        """Fits the baseline on the training events.

        Args:
            train_view: `EventView`. All training events, sorted by (user, time).
            n_items: int. I, the vocabulary size including index 0.
            n_catalogue: int. C; items 1..C are the rankable catalogue.
            item_vectors: float array `[I, D]` or `None`. Item space of MV/MaxItem (ignored
                by the others); `None` builds `cooccurrence_vectors(train_view, n_items)`.

        Returns:
            `self`.
        """
        n_items = check_positive("n_items", n_items, minimum=2)
        if not 1 <= n_catalogue < n_items:
            raise ValueError(f"n_catalogue must lie in [1, n_items - 1 = {n_items - 1}], got {n_catalogue}")
        item = np.asarray(train_view.item)
        if len(item) and (item.min() < 1 or item.max() >= n_items):
            raise ValueError(
                f"training items must lie in [1, {n_items}), got min {item.min()}, max {item.max()}"
            )
        self.n_items, self.n_catalogue = n_items, int(n_catalogue)
        self._fit(train_view, item_vectors)
        return self

    def scores(self, view, events):
        """Scores of every catalogue item for some events of a view.

        Args:
            view: `EventView`, sorted by (user, time).
            events: int array `[N]`. Indices into the view of the events to score (targets).

        Returns:
            float32 `[N, C + 1]`; column 0 (padding) is -inf.
        """
        events = self._check_call(view, events)
        out = np.empty((len(events), self.n_catalogue + 1), dtype=np.float32)
        out[:, 0] = -np.inf
        for start in range(0, len(events), self.chunk_size):
            chunk = events[start : start + self.chunk_size]
            out[start : start + len(chunk), 1:] = self._score_chunk(view, chunk)
        return out

    def _check_call(self, view, events):
        if self.n_items is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train_view, ...) first")
        events = np.asarray(events)
        if events.ndim != 1 or not (events.size == 0 or np.issubdtype(events.dtype, np.integer)):
            raise ValueError(
                f"events must be a 1-D integer array, got dtype {events.dtype}, shape {events.shape}"
            )
        if events.size and (events.min() < 0 or events.max() >= len(view)):
            raise ValueError(
                f"event indices must lie in [0, {len(view)}), got min {events.min()}, max {events.max()}"
            )
        return events.astype(np.int64)

    def _history_items(self, view, index):
        items = np.asarray(view.item)[index]
        if items.size and items.max() >= self.n_items:
            raise ValueError(f"view items must be < n_items = {self.n_items}, got {items.max()}")
        return items

    def _fit(self, train_view, item_vectors):
        raise NotImplementedError

    def _score_chunk(self, view, events):
        """Scores `[n, C]` for catalogue columns 1..C."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(fitted={self.n_items is not None})"


def top_k_per_row(matrix, k):
    """Keeps the k largest entries of each CSR row (ties: the lower column index wins).

    Finds each row's k-th largest value with `np.partition` on the rows padded to
    `[rows, max nnz]` (in row blocks that bound the padding), then keeps what beats it and,
    of the entries equal to it, the lowest columns. O(nnz); no sort of the whole matrix.
    """
    counts = np.diff(matrix.indptr)
    if len(counts) == 0 or counts.max() <= k:
        return matrix
    n_rows = matrix.shape[0]
    rows = np.repeat(np.arange(n_rows), counts)
    column = np.arange(len(rows)) - matrix.indptr[rows]  # position within the row
    width = int(counts.max())
    threshold = np.empty(n_rows, dtype=matrix.dtype)
    step = max(1, TOP_K_PAD_CELLS // width)
    for r0 in range(0, n_rows, step):
        r1 = min(r0 + step, n_rows)
        a, b = matrix.indptr[r0], matrix.indptr[r1]
        padded = np.full((r1 - r0, width), -np.inf, dtype=matrix.dtype)
        padded[rows[a:b] - r0, column[a:b]] = matrix.data[a:b]
        threshold[r0:r1] = np.partition(padded, width - k, axis=1)[:, width - k]
    threshold[counts <= k] = -np.inf  # short rows keep everything
    t = threshold[rows]
    keep = matrix.data > t
    tied = np.flatnonzero(matrix.data == t)
    if len(tied):
        # Fill each row's remaining places with its tied entries, lowest column first.
        room = k - np.bincount(rows[keep], minlength=n_rows)
        tied = tied[np.lexsort((matrix.indices[tied], rows[tied]))]
        tied_rows = rows[tied]
        first = np.r_[0, np.flatnonzero(tied_rows[1:] != tied_rows[:-1]) + 1]
        rank = np.arange(len(tied)) - np.repeat(first, np.diff(np.r_[first, len(tied)]))
        keep[tied[rank < room[tied_rows]]] = True
    # `keep` is in row-major order already: build the CSR arrays directly, no sort.
    indptr = np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=n_rows))]
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)
