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

from hiertcn_keras.models.baseline_base import (
    SimpleBaseline,
    check_positive,
    previous_events,
    session_starts,
    top_k_per_row,
)
from hiertcn_keras.models.item_vectors import cooccurrence_vectors

# MaxItem gathers rows of a precomputed [I, C] similarity table when it fits in this budget
# (a gather beats a D-wide matmul per history slot); above it, one matmul per slot.
_SIM_TABLE_BYTES = 128 * 2**20


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
        self.window = check_positive("window", window)
        self.dim = check_positive("dim", dim)
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
        index, valid = previous_events(view, events, self.window)
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
    PARAMS = {"window": [1, 3, 5, 10, 20]}

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
    PARAMS = {"window": [1, 3, 5, 10, 20]}

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
    PARAMS = {"k": [20, 50, 100, 200, 500], "user_sessions": [0, 1, 2, 5], "history_weight": [0.25, 0.5, 1.0]}

    def __init__(self, k=100, user_sessions=2, history_weight=0.5, chunk_size=512):
        super().__init__(chunk_size)
        self.k = check_positive("k", k)
        self.user_sessions = check_positive("user_sessions", user_sessions, minimum=0)
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
        sid = np.cumsum(session_starts(user, np.asarray(train_view.session))) - 1
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
        starts = session_starts(u, s)
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
        neighbours = top_k_per_row(sims, self.k)
        return (neighbours @ self.sessions).toarray()[:, 1:]


# The registry of every baseline's name (these and the newer ones) is models/baselines.py.
