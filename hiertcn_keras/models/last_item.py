"""What the "last item" baselines share: the previous item of an event and a popularity fallback.

Successor counts, sequential rules and item-kNN all score an event by one row of an item ×
item matrix fitted on the training sessions, the row of the *previous* item: the item of the
event just before it in the same session (by default; `across_sessions=True` also reaches back
into the user's previous session). A user's first event, or a session's first event without
`across_sessions`, has no previous item and gets the fallback scores only.

**Fallback.** Most of the catalogue gets a rule score of 0, and conservative ties would rank a
target among them last. With `fallback="pop"` every item whose rule score is 0 is ranked
*below every item the rule scores* and, among themselves, by training popularity: their score
is `pop(c) / (max pop + 1) - 1 ∈ [-1, 0)`. The rule's positive scores are unchanged, so the
order of the items the rule scores is exactly the rule's. `fallback="none"` leaves the zeros.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hiertcn_keras.models.baseline_base import SimpleBaseline, previous_events, session_starts

FALLBACKS = ("pop", "none")


def training_sessions(train_view):
    """Session numbers `[n]` (0, 1, ... in view order) of a sorted training view's events."""
    user, session = np.asarray(train_view.user), np.asarray(train_view.session)
    if len(user) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.cumsum(session_starts(user, session)) - 1


def popularity_fallback(train_view, n_catalogue):
    """Fallback scores `[C]` in `[-1, 0)`: training popularity, below any positive score."""
    counts = np.bincount(np.asarray(train_view.item, dtype=np.int64), minlength=n_catalogue + 1)
    counts = counts[1 : n_catalogue + 1].astype(np.float64)
    return (counts / (counts.max(initial=0.0) + 1.0) - 1.0).astype(np.float32)


def apply_fallback(scores, fallback):
    """`scores` `[n, C]` (rule scores ≥ 0) with the zeros replaced by `fallback` `[C]` (or kept)."""
    if fallback is None:
        return scores
    return np.where(scores > 0, scores, fallback[None, :]).astype(np.float32)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


class LastItemBaseline(SimpleBaseline):
    """Base class: `scores = matrix[previous item]`, with the popularity fallback.

    Subclasses build `self.matrix` (CSR `[I, C + 1]`, row = previous item, column = candidate)
    in `_fit_matrix(train_view, sessions)`.

    Args:
        across_sessions: bool. At a session's first event, use the last item of the user's
            previous session (never another user's). Defaults to `False` (state reset at
            every session start).
        fallback: str. `"pop"` or `"none"` (see the module docstring). Defaults to `"pop"`.
        chunk_size: int. Events per step. Defaults to 2048.
    """

    def __init__(self, across_sessions=False, fallback="pop", chunk_size=2048):
        super().__init__(chunk_size)
        self.across_sessions = bool(across_sessions)
        self.fallback = check_choice("fallback", fallback, FALLBACKS)

    def _fit(self, train_view, item_vectors):
        matrix = self._fit_matrix(train_view, training_sessions(train_view)).tocsr()
        matrix.eliminate_zeros()
        self.matrix = matrix.astype(np.float32)
        self._fallback = popularity_fallback(train_view, self.n_catalogue) if self.fallback == "pop" else None

    def _fit_matrix(self, train_view, sessions):
        raise NotImplementedError

    def previous_items(self, view, events):
        """The previous item of each event (0 where there is none).

        Args:
            view: `EventView`; events: int array `[N]` of view indices.

        Returns:
            int64 `[N]`.
        """
        index, valid = previous_events(view, events, 1)
        index, valid = index[:, 0], valid[:, 0]
        if not self.across_sessions:
            session = np.asarray(view.session)
            valid &= session[index] == session[events]
        return np.where(valid, self._history_items(view, index), 0).astype(np.int64)

    def _score_chunk(self, view, events):
        rows = self.matrix[self.previous_items(view, events)].toarray()[:, 1:]
        return apply_fallback(rows, self._fallback)

    def sparse_matrix(self):
        """The fitted item × item matrix, CSR float32 `[I, C + 1]` (column 0 empty)."""
        return self.matrix


def pad_rows(matrix, n_rows):
    """A CSR matrix with empty rows appended up to `n_rows`."""
    matrix = sp.csr_matrix(matrix)
    if matrix.shape[0] < n_rows:
        matrix = sp.vstack([matrix, sp.csr_matrix((n_rows - matrix.shape[0], matrix.shape[1]), dtype=matrix.dtype)])
    return matrix.tocsr()
