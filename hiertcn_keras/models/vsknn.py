"""V-SKNN: session kNN with position decay in the current session and recent neighbours.

After Ludewig & Jannach ("Evaluation of session-based recommendation algorithms", UMUAI 2018)
and the session-rec framework's `VMContextKNN`:

- **Query.** The earlier items of the current session (state reset at every session and user
  start), the j-th most recent weighing `1 / j` ("div" decay: the last item 1, the one before
  1/2, ...; `decay="linear"`: `(m - j + 1) / m` of m items; `"same"`: 1). An item present twice
  keeps its largest weight.
- **Sample.** Of the training sessions sharing at least one item with the query, the
  `sample_size` most recent (by their last event's time; ties: the later session in view order).
- **Similarity.** `sim(q, n) = Σ_{i ∈ n} q_i` (the weighted dot product with the binary item set
  of `n`), times `0.5 ** (age / recency_halflife_hours)` when a half-life is given, age = the
  hours from the neighbour's last event to the scored event (0 if the neighbour is later).
- **Score.** Of the sample, the `k` most similar sessions (ties: the lower session index):
  `score(c) = Σ_n sim(q, n) · 1[c ∈ n]`. Items no neighbour holds get the popularity fallback
  of `last_item` (ranked below every scored item, by training popularity).

Neighbours come from the fitted training view (the events the neural models train on), so a
view that *is* the training view sees the target's own session as a neighbour; evaluation
views do not. The pool is not filtered by time: in the `paper` protocol training users'
sessions may be later than a test event, exactly as for the neural models trained on them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hiertcn_keras.models.baseline_base import SimpleBaseline, check_positive, session_starts, top_k_per_row
from hiertcn_keras.models.last_item import (
    FALLBACKS,
    apply_fallback,
    check_choice,
    popularity_fallback,
    training_sessions,
)

DECAYS = ("div", "linear", "same")


def session_first_index(view):
    """For every event of a sorted view, the view index of its session's first event. `[n]` int64."""
    user, session = np.asarray(view.user), np.asarray(view.session)
    starts = session_starts(user, session) if len(user) else np.zeros(0, dtype=bool)
    return np.maximum.accumulate(np.where(starts, np.arange(len(user)), 0)).astype(np.int64)


class VSKNN(SimpleBaseline):
    """V-SKNN (see the module docstring).

    Worked example: training sessions A = [1, 2, 3] (ends first), B = [2, 4], C = [1, 4]
    (ends last). Current session [1, 2, (target)]: q = {1: 1/2, 2: 1}; sim(A) = 1.5,
    sim(B) = 1, sim(C) = 0.5. With k = 2: item 2 = 2.5, item 1 = 1.5, item 3 = 1.5, item 4 = 1.
    With sample_size = 2 the sample is the two most recent sessions B and C: item 4 = 1.5,
    item 2 = 1, item 1 = 0.5.

    Args:
        k: int. Neighbours per event. Defaults to 100.
        sample_size: int. Most recent candidate sessions considered. Defaults to 1000.
        decay: str. Position decay of the query, `"div"`, `"linear"` or `"same"`. Defaults to `"div"`.
        recency_halflife_hours: float or `None`. Half-life of a neighbour's weight with its age.
            Defaults to `None` (no time weighting).
        fallback: str. `"pop"` or `"none"`. Defaults to `"pop"`.
        chunk_size: int. Events per step. Defaults to 512.
    """

    name = "vsknn"
    PARAMS = {"k": [50, 100, 200, 500], "sample_size": [500, 1000, 5000], "decay": ["div", "linear", "same"],
              "recency_halflife_hours": [None, 24.0, 168.0]}

    def __init__(self, k=100, sample_size=1000, decay="div", recency_halflife_hours=None, fallback="pop",
                 chunk_size=512):
        super().__init__(chunk_size)
        self.k = check_positive("k", k)
        self.sample_size = check_positive("sample_size", sample_size)
        self.decay = check_choice("decay", decay, DECAYS)
        if recency_halflife_hours is not None and not recency_halflife_hours > 0:
            raise ValueError(f"recency_halflife_hours must be > 0 or None, got {recency_halflife_hours!r}")
        self.recency_halflife_hours = recency_halflife_hours
        self.fallback = check_choice("fallback", fallback, FALLBACKS)
        self._first_cache = (None, None)

    def _fit(self, train_view, item_vectors):
        item = np.asarray(train_view.item, dtype=np.int64)
        n_cols = self.n_catalogue + 1
        sid = training_sessions(train_view)
        n_sessions = int(sid[-1]) + 1 if len(sid) else 0
        keep = item <= self.n_catalogue
        sessions = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (sid[keep], item[keep])),
                                 shape=(n_sessions, n_cols))
        sessions.sum_duplicates()
        sessions.data[:] = 1.0
        self.sessions = sessions
        self._sessions_t = sessions.T.tocsr()
        end = np.full(n_sessions, -np.inf)
        if len(sid):
            np.maximum.at(end, sid, np.asarray(train_view.timestamp, dtype=np.float64))
        self.session_end = end
        # Recency rank 1..S: larger = more recent (ties: the later session index).
        self._recency = np.empty(n_sessions, dtype=np.float64)
        self._recency[np.lexsort((np.arange(n_sessions), end))] = np.arange(1, n_sessions + 1)
        self._fallback = popularity_fallback(train_view, self.n_catalogue) if self.fallback == "pop" else None

    def _session_first(self, view):
        cached_view, first = self._first_cache
        if cached_view is not view:
            first = session_first_index(view)
            self._first_cache = (view, first)
        return first

    def query_matrix(self, view, events):
        """The weighted queries, CSR float32 `[N, C + 1]`.

        Args:
            view: `EventView`; events: int array `[N]` of view indices.
        """
        events = self._check_call(view, events)
        n, n_cols = len(events), self.n_catalogue + 1
        s0 = self._session_first(view)[events]
        lengths = events - s0
        rows = np.repeat(np.arange(n), lengths)
        offsets = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        index = s0[rows] + offsets
        m = lengths[rows]
        back = m - offsets  # 1 for the most recent earlier event
        if self.decay == "div":
            weight = 1.0 / back
        elif self.decay == "linear":
            weight = (m - back + 1) / np.maximum(m, 1)
        else:
            weight = np.ones(len(rows))
        cols = self._history_items(view, index).astype(np.int64)
        keep = (cols >= 1) & (cols <= self.n_catalogue)
        # Duplicates keep their largest weight: sort by (item key, weight), keep each key's last.
        key = rows[keep] * n_cols + cols[keep]
        w = weight[keep]
        if len(key) == 0:
            return sp.csr_matrix((n, n_cols), dtype=np.float32)
        order = np.lexsort((w, key))
        key, w = key[order], w[order]
        last = np.r_[key[1:] != key[:-1], True]
        key, w = key[last], w[last]
        return sp.csr_matrix((w.astype(np.float32), (key // n_cols, key % n_cols)), shape=(n, n_cols))

    def _score_chunk(self, view, events):
        query = self.query_matrix(view, events)
        sims = (query @ self._sessions_t).tocsr()
        sims.eliminate_zeros()
        sims = self._sample(sims)
        if self.recency_halflife_hours is not None and sims.nnz:
            rows = np.repeat(np.arange(sims.shape[0]), np.diff(sims.indptr))
            t = np.asarray(view.timestamp, dtype=np.float64)[events][rows]
            age_h = np.maximum(t - self.session_end[sims.indices], 0.0) / 3600.0
            sims.data = (sims.data * 0.5 ** (age_h / self.recency_halflife_hours)).astype(np.float32)
        neighbours = top_k_per_row(sims, self.k)
        scores = (neighbours @ self.sessions).toarray()[:, 1:]
        if self._fallback is None:
            return scores
        return apply_fallback(scores, self._fallback)

    def _sample(self, sims):
        """Keeps, per row, the `sample_size` most recent sessions among the non-zeros."""
        if sims.nnz == 0 or np.diff(sims.indptr).max() <= self.sample_size:
            return sims
        recency = sp.csr_matrix((self._recency[sims.indices], sims.indices.copy(), sims.indptr.copy()),
                                shape=sims.shape)
        kept = top_k_per_row(recency, self.sample_size)
        rows = np.repeat(np.arange(sims.shape[0]), np.diff(sims.indptr))
        kept_rows = np.repeat(np.arange(kept.shape[0]), np.diff(kept.indptr))
        n_cols = sims.shape[1]
        mask = np.isin(rows * n_cols + sims.indices, kept_rows * n_cols + kept.indices)
        out = sp.csr_matrix((sims.data[mask], (rows[mask], sims.indices[mask])), shape=sims.shape)
        return out
