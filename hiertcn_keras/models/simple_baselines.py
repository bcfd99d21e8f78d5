"""Non-neural baselines with one interface: Pop, MV, MaxItem and a session kNN.

Shape legend: N events scored in a call, C catalogue items (columns 1..C; column 0 is the
padding item), I vocabulary size (C < I), D item vector dim, W window.

- `Pop`: the training count of each item; the usual sanity floor.
- `MovingAverage` (MV, the HierTCN paper's baseline; official code, window 10):
  score(c) = ⟨mean of the vectors of the user's last W items, v_c⟩.
- `MaxItem` (the HierTCN paper's baseline, window 10): score(c) = max over the user's last W
  items x of ⟨v_x, v_c⟩.
- `SessionKNN`: V-SKNN (Ludewig & Jannach, "Evaluation of session-based recommendation
  algorithms", UMUAI 2018; the session-rec framework), with the session-aware "extend" idea of
  Latifi, Mauro & Jannach ("Session-aware recommendation: a surprising quest for the state of
  the art", Information Sciences 2021): score(c) = Σ over the k training sessions n nearest to
  the query q of sim(q, n) · 1[c ∈ n].

MV and MaxItem use learned item vectors when given (the paper: PinSage embeddings), else the
PPMI + SVD co-occurrence vectors of `item_vectors.py`.

Every baseline answers `fit(train_view, n_items, n_catalogue, item_vectors=None)` and
`scores(view, events) -> [N, C + 1]` (column 0 = -inf), so the evaluator ranks them like any
model (docs/concepts.md#baselines: simple baselines often beat neural ones; we report them anyway).

**Causality.** An event is scored from strictly earlier events *of its user* in the view:
views are sorted by (user, time, source row), so "earlier" is the view order (equal
timestamps keep their log order, as the sequence models see them). The event itself, later
events and other users' events never enter its score. Whether the event starts a new session
is known (its timestamp is), so `SessionKNN` may use it. The kNN neighbours come from the
fitted training view: scoring the training view itself with a model fitted on it leaks (a
target's own session is a neighbour); evaluation views do not.

No library offers these baselines on our event views (session-rec works on its own pandas
frames, one event at a time), hence this module; the heavy lifting is NumPy gathers and
scipy.sparse products per chunk of events, no Python loop per event.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hiertcn_keras.models.item_vectors import cooccurrence_vectors

# MaxItem gathers rows of a precomputed [I, C] similarity table when it fits in this budget
# (a gather beats a D-wide matmul per history slot); above it, one matmul per slot.
_SIM_TABLE_BYTES = 128 * 2**20
# Cells of the padded [rows, max nnz] block in which the kNN top-k is partitioned.
_TOP_K_PAD_CELLS = 8 * 2**20


def _check_positive(name, value, minimum=1):
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _session_starts(user, session):
    starts = np.ones(len(user), dtype=bool)
    starts[1:] = (session[1:] != session[:-1]) | (user[1:] != user[:-1])
    return starts


def _previous_events(view, events, window):
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

    def __init__(self, chunk_size=2048):
        self.chunk_size = _check_positive("chunk_size", chunk_size)
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
        n_items = _check_positive("n_items", n_items, minimum=2)
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


class Pop(SimpleBaseline):
    """Popularity: every event gets the training count of each item.

    Args:
        chunk_size: int. Events per step. Defaults to 2048.
    """

    name = "pop"

    def _fit(self, train_view, item_vectors):
        counts = np.bincount(np.asarray(train_view.item, dtype=np.int64), minlength=self.n_items)
        self.counts = counts[1 : self.n_catalogue + 1].astype(np.float32)

    def _score_chunk(self, view, events):
        return np.broadcast_to(self.counts, (len(events), self.n_catalogue))


class _VectorBaseline(SimpleBaseline):
    """Shared item-space handling of MV and MaxItem."""

    def __init__(self, window=10, dim=64, seed=0, chunk_size=2048):
        super().__init__(chunk_size)
        self.window = _check_positive("window", window)
        self.dim = _check_positive("dim", dim)
        self.seed = seed

    def _fit(self, train_view, item_vectors):
        if item_vectors is None:
            item_vectors = cooccurrence_vectors(train_view, self.n_items, dim=self.dim, seed=self.seed)
        item_vectors = np.asarray(item_vectors, dtype=np.float32)
        if item_vectors.ndim != 2 or item_vectors.shape[0] != self.n_items:
            raise ValueError(
                f"item_vectors must have shape [n_items, D] = [{self.n_items}, D], got "
                f"{item_vectors.shape} (load_item_vectors prepends a missing padding row)"
            )
        self.item_vectors = item_vectors
        self.candidates = item_vectors[1 : self.n_catalogue + 1]

    def _history(self, view, events):
        """Item ids `[n, W]` of the previous W events and their validity `[n, W]`."""
        index, valid = _previous_events(view, events, self.window)
        return self._history_items(view, index), valid


class MovingAverage(_VectorBaseline):
    """MV: the mean of the last W item vectors of the user, scored by inner product.

    The window runs across sessions; a shorter history averages what there is, and a user's
    first event has a zero query (all scores 0).

    Args:
        window: int. W, previous events averaged. Defaults to 10 (the paper's).
        dim: int. D of the default co-occurrence item vectors. Defaults to 64.
        seed: int. Seed of the default item vectors. Defaults to 0.
        chunk_size: int. Events per step. Defaults to 2048.
    """

    name = "mv"

    def query_vectors(self, view, events):
        """The MV queries, for ranking by inner product over a large catalogue.

        Args:
            view: `EventView`; events: int array `[N]` of view indices.

        Returns:
            float32 `[N, D]`; `scores(view, events)[:, 1:] == queries @ item_vectors[1:C+1].T`.
        """
        events = self._check_call(view, events)
        out = np.zeros((len(events), self.item_vectors.shape[1]), dtype=np.float32)
        for start in range(0, len(events), self.chunk_size):
            chunk = events[start : start + self.chunk_size]
            out[start : start + len(chunk)] = self._queries(view, chunk)
        return out

    def _queries(self, view, events):
        items, valid = self._history(view, events)
        summed = np.einsum("nw,nwd->nd", valid.astype(np.float32), self.item_vectors[items])
        return summed / np.maximum(valid.sum(axis=1, keepdims=True), 1).astype(np.float32)

    def _score_chunk(self, view, events):
        return self._queries(view, events) @ self.candidates.T


class MaxItem(_VectorBaseline):
    """MaxItem: a candidate's score is its largest inner product with the last W items.

    `score(c) = max_j ⟨v_{x_j}, v_c⟩` over the user's previous W events (across sessions);
    with no history every score is 0.

    Args:
        window: int. W. Defaults to 10 (the paper's).
        dim: int. D of the default co-occurrence item vectors. Defaults to 64.
        seed: int. Seed of the default item vectors. Defaults to 0.
        chunk_size: int. Events per step. Defaults to 2048.
    """

    name = "maxitem"

    def _fit(self, train_view, item_vectors):
        super()._fit(train_view, item_vectors)
        # Row I of the table is -inf: the slot of a missing (or other user's) history event.
        fits = (self.n_items + 1) * self.n_catalogue * 4 <= _SIM_TABLE_BYTES
        self._sim_table = None
        if fits:
            table = np.full((self.n_items + 1, self.n_catalogue), -np.inf, dtype=np.float32)
            table[: self.n_items] = self.item_vectors @ self.candidates.T
            self._sim_table = table

    def _score_chunk(self, view, events):
        items, valid = self._history(view, events)
        slots = np.where(valid, items, self.n_items)
        best = self._slot_sims(slots[:, 0])
        for j in range(1, self.window):
            if not valid[:, j].any():
                break  # valid is a prefix along j
            np.maximum(best, self._slot_sims(slots[:, j]), out=best)
        best[~valid[:, 0]] = 0.0
        return best

    def _slot_sims(self, slot_items):
        """`[n, C]` inner products of each slot's item with the candidates (-inf: no item)."""
        if self._sim_table is not None:
            return np.take(self._sim_table, slot_items, axis=0)
        missing = slot_items == self.n_items
        sims = self.item_vectors[np.where(missing, 0, slot_items)] @ self.candidates.T
        sims[missing] = -np.inf
        return sims


def _top_k_per_row(matrix, k):
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
    step = max(1, _TOP_K_PAD_CELLS // width)
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


class SessionKNN(SimpleBaseline):
    """Session kNN (V-SKNN) over the training sessions, optionally extended by user history.

    The query of an event is a weighted item set: the current session's earlier items with
    V-SKNN's linearly increasing ("div") weights, the j-th of m earlier items weighing j / m
    (the most recent weighs 1), plus the items of the user's previous `user_sessions` sessions
    at `history_weight` (an item present twice keeps its largest weight). Neighbours are the
    `k` training sessions most similar to the query by cosine (weighted query vs. binary item
    set); `score(c) = Σ_n sim(q, n) · 1[c ∈ n]`. An empty query (a user's first event) scores
    0 everywhere. Unlike session-rec's V-SKNN, the similarity is a cosine (not a raw dot
    product) and the pool is every training session (no recency sample): exact top-k by
    sparse products per chunk.

    Worked example: training sessions {1, 2, 3} and {1, 4}; earlier items of the current
    session [1, 2] → q = {1: 1/2, 2: 1}, |q| = √1.25. sim({1,2,3}) = 1.5 / √(1.25·3) = √0.6,
    sim({1,4}) = 0.5 / √(1.25·2) = √0.1; so item 1 scores √0.6 + √0.1, items 2 and 3 √0.6,
    item 4 √0.1.

    Args:
        k: int. Neighbours per event. Defaults to 100.
        user_sessions: int. Previous sessions of the user added to the query. Defaults to 2.
        history_weight: float. Weight of those sessions' items. Defaults to 0.5.
        chunk_size: int. Events per step. Defaults to 512.
    """

    name = "sknn"

    def __init__(self, k=100, user_sessions=2, history_weight=0.5, chunk_size=512):
        super().__init__(chunk_size)
        self.k = _check_positive("k", k)
        self.user_sessions = _check_positive("user_sessions", user_sessions, minimum=0)
        if not history_weight >= 0:
            raise ValueError(f"history_weight must be ≥ 0, got {history_weight!r}")
        self.history_weight = float(history_weight)

    def _fit(self, train_view, item_vectors):
        user, item = np.asarray(train_view.user), np.asarray(train_view.item, dtype=np.int64)
        n_cols = self.n_catalogue + 1
        if len(item) == 0:
            self.sessions = sp.csr_matrix((0, n_cols), dtype=np.float32)
            self._sessions_normed_t = sp.csr_matrix((n_cols, 0), dtype=np.float32)
            return
        sid = np.cumsum(_session_starts(user, np.asarray(train_view.session))) - 1
        keep = item <= self.n_catalogue
        sessions = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (sid[keep], item[keep])),
            shape=(int(sid[-1]) + 1, n_cols),
        )
        sessions.sum_duplicates()
        sessions.data[:] = 1.0  # binary item sets
        norms = np.sqrt(np.maximum(sessions.getnnz(axis=1), 1)).astype(np.float32)
        self.sessions = sessions
        self._sessions_normed_t = (sp.diags(1.0 / norms) @ sessions).T.tocsr()

    def query_matrix(self, view, events):
        """The weighted query item sets.

        Args:
            view: `EventView`; events: int array `[N]` of view indices.

        Returns:
            `scipy.sparse.csr_matrix` float32 `[N, C + 1]`.
        """
        events = self._check_call(view, events)
        n, n_cols = len(events), self.n_catalogue + 1
        if n == 0:
            return sp.csr_matrix((0, n_cols), dtype=np.float32)
        user = np.asarray(view.user)
        # Work on the slice from the first event's user start to the last event: views are
        # sorted by user, so searchsorted finds the user start; the slice is checked sorted.
        first_event = int(events.min())
        lo = int(np.searchsorted(user, user[first_event], side="left"))
        hi = int(events.max()) + 1
        u, s = user[lo:hi], np.asarray(view.session)[lo:hi]
        if not (
            lo <= first_event
            and user[lo] == user[first_event]
            and (lo == 0 or user[lo - 1] != user[first_event])
            and not np.any(u[1:] < u[:-1])
        ):
            raise ValueError("the view must be sorted by (user, time), as PreparedDataset.view returns it")
        starts = _session_starts(u, s)
        sid = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)  # first local index of every session
        user_first = np.ones(len(first), dtype=bool)
        user_first[1:] = u[first[1:]] != u[first[:-1]]
        user_first_sid = np.maximum.accumulate(np.where(user_first, np.arange(len(first)), 0))
        e = events - lo
        current = sid[e]
        s0 = first[current]  # start of the current session
        h0 = first[np.maximum(current - self.user_sessions, user_first_sid[current])]
        # Flatten the ranges [h0, e) of all events: row r holds lengths[r] earlier events.
        lengths = e - h0
        rows = np.repeat(np.arange(n), lengths)
        offsets = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        index = h0[rows] + offsets
        m = (e - s0)[rows]  # earlier items in the current session
        in_session = index >= s0[rows]
        weight = np.where(in_session, (index - s0[rows] + 1) / np.maximum(m, 1), self.history_weight)
        cols = self._history_items(view, index + lo).astype(np.int64)
        keep = (cols >= 1) & (cols <= self.n_catalogue) & (weight > 0)
        key = rows[keep] * n_cols + cols[keep]
        weight = weight[keep]
        # Duplicate items keep their largest weight.
        order = np.argsort(key, kind="stable")
        key, weight = key[order], weight[order]
        if len(key) == 0:
            return sp.csr_matrix((n, n_cols), dtype=np.float32)
        group = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        best = np.maximum.reduceat(weight, group).astype(np.float32)
        key = key[group]
        return sp.csr_matrix((best, (key // n_cols, key % n_cols)), shape=(n, n_cols))

    def _score_chunk(self, view, events):
        query = self.query_matrix(view, events)
        norms = np.sqrt(np.asarray(query.multiply(query).sum(axis=1)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        sims = (sp.diags(inv.astype(np.float32)) @ query @ self._sessions_normed_t).tocsr()
        sims.eliminate_zeros()
        neighbours = _top_k_per_row(sims, self.k)
        return (neighbours @ self.sessions).toarray()[:, 1:]


BASELINES = {cls.name: cls for cls in (Pop, MovingAverage, MaxItem, SessionKNN)}
