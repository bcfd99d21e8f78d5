"""Padded tensors built from an `EventView`: the hierarchical session table and the flat view.

Shape legend: U users, N sessions, L steps per session, C flat chunks, T steps per chunk.

`SessionTable` holds every session of the view as one row of a `[N, L]` matrix (users'
sessions contiguous and in time order), which the queue batcher gathers into `[B, S, L]`
batches. Within a session, targets are the items `a1..an` and inputs `[x̂, a1..a(n-1)]` with
x̂ = 0 (docs/concepts.md#inputs-and-targets): every item, including a session's first, is a target.

`FlatTable` holds each user's whole history as consecutive chunks of T events (T = the flat
cap, 500 by default). The flat baselines (TCN, GRU) read it: inputs are the previous event of
the user's history (across session boundaries), 0 before the first. A user longer than T
events continues in the next chunk of the same queue row, so the GRU's state is carried and
every event is scored by both the flat and the hierarchical models.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def _session_boundaries(view):
    n = len(view)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        starts[1:] = (view.session[1:] != view.session[:-1]) | (view.user[1:] != view.user[:-1])
    return starts


def _user_pointers(unit_user):
    """CSR pointers of users over units that are grouped by user: `ptr[k]..ptr[k+1]`."""
    if len(unit_user) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=unit_user.dtype)
    first = np.ones(len(unit_user), dtype=bool)
    first[1:] = unit_user[1:] != unit_user[:-1]
    starts = np.flatnonzero(first)
    return np.append(starts, len(unit_user)).astype(np.int64), unit_user[starts]


def gather_rows(table, rows, fields):
    """The batch of a table whose rows hold targets `items` and their `inputs` side by side.

    The shared gather of the flat tables (`FlatTable`'s chunks, `SegmentTable`'s events): the
    padding unit holds item 0, so `mask` is `items > 0`.

    Args:
        table: object with `items`, `inputs` and every attribute named in `fields`, each an
            array whose first axis is the unit.
        rows: int array of unit indices, padding already mapped to the padding unit (no -1).
        fields: sequence of str. The further attributes to gather, in the order of the dict.

    Returns:
        dict of NumPy arrays, each `rows.shape + table.<field>.shape[1:]`: `items`, `inputs`,
        `mask`, then `fields`.
    """
    items = table.items[rows]
    batch = {"items": items, "inputs": table.inputs[rows], "mask": items > 0}
    for name in fields:
        batch[name] = getattr(table, name)[rows]
    return batch


class _PaddedTable:
    """What both tables share: rows of units, the last row all padding."""

    @property
    def n_units(self):
        """Real rows (sessions or chunks); row `n_units` is the padding row."""
        return len(self.user) - 1

    @property
    def max_len(self):
        """L (sessions) or T (chunks)."""
        return self.items.shape[1]

    def events_of(self, index):
        """The view index of every cell of the batch for unit indices `index` (as `gather`).

        Args:
            index: int array `[B, U]` of unit indices, -1 = padding.

        Returns:
            int64 `[B, S, L]` (sessions) or `[B, T]` (chunks); -1 where padded.
        """
        if self.event is None:
            raise ValueError("this table was built without event indices (use from_view)")
        return self.event[self._rows(index)]

    def _rows(self, index):
        return np.where(index < 0, self.n_units, index)


@dataclasses.dataclass
class SessionTable(_PaddedTable):
    """All sessions of a view as padded rows (plus one all-zero padding row at index N).

    Attributes:
        items: int32 `[N + 1, L]`. Target items, 0 = padding.
        score: bool `[N + 1, L]`. Scored targets.
        user: int32 `[N + 1]`. The session's user index (0 for the padding row).
        user_start: bool `[N + 1]`. `True` for a user's first session in the view.
        gap: float32 `[N + 1]`. Seconds from the end of the user's previous session to this
            session's start (0 at a user's first session).
        start_time: float64 `[N + 1]`. Time of the session's first event.
        user_ptr: int64 `[U + 1]`. Sessions of the k-th user are rows `user_ptr[k]:user_ptr[k+1]`.
        users: int32 `[U]`. The user index of the k-th user.
        event: int64 `[N + 1, L]` or `None`. The view index of every cell's event (-1 = padding):
            what ties a batch's targets back to the view's timestamps (`events_of`).
    """

    items: np.ndarray
    score: np.ndarray
    user: np.ndarray
    user_start: np.ndarray
    gap: np.ndarray
    start_time: np.ndarray
    user_ptr: np.ndarray
    users: np.ndarray
    event: np.ndarray | None = None

    @classmethod
    def from_view(cls, view, max_session_len):
        """Build the table from an `EventView`.

        Args:
            view: `EventView`.
            max_session_len: int. L; must cover the longest session in the view.

        Returns:
            `SessionTable`.
        """
        starts = _session_boundaries(view)
        sid = np.cumsum(starts) - 1
        n_sessions = int(sid[-1]) + 1 if len(sid) else 0
        first_idx = np.flatnonzero(starts)
        pos = np.arange(len(view)) - first_idx[sid] if len(view) else np.zeros(0, np.int64)
        if len(pos) and pos.max() >= max_session_len:
            raise ValueError(
                f"a session has {int(pos.max()) + 1} events but max_session_len is {max_session_len}; "
                "prepare the data with a matching --max-session-len"
            )
        items = np.zeros((n_sessions + 1, max_session_len), dtype=np.int32)
        score = np.zeros((n_sessions + 1, max_session_len), dtype=bool)
        items[sid, pos] = view.item
        score[sid, pos] = view.score
        user = np.zeros(n_sessions + 1, dtype=np.int32)
        user[:n_sessions] = view.user[first_idx]
        user_start = np.zeros(n_sessions + 1, dtype=bool)
        if n_sessions:
            user_start[0] = True
            user_start[1:n_sessions] = user[1:n_sessions] != user[: n_sessions - 1]
        start_time = np.zeros(n_sessions + 1, dtype=np.float64)
        start_time[:n_sessions] = view.timestamp[first_idx]
        last_idx = np.append(first_idx[1:] - 1, len(view) - 1) if n_sessions else first_idx
        gap = np.zeros(n_sessions + 1, dtype=np.float32)
        if n_sessions > 1:
            gap[1:n_sessions] = start_time[1:n_sessions] - view.timestamp[last_idx[:-1]]
        gap[user_start] = 0.0
        user_ptr, users = _user_pointers(user[:n_sessions])
        event = np.full((n_sessions + 1, max_session_len), -1, dtype=np.int64)
        event[sid, pos] = np.arange(len(view))
        return cls(items, score, user, user_start, gap, start_time, user_ptr, users, event)

    def gather(self, index):
        """The batch for unit indices `index` (`[B, S]`, -1 = padding).

        Returns:
            dict of NumPy arrays: `items`, `inputs`, `mask`, `score` `[B, S, L]`;
            `session_mask`, `user_start`, `gap`, `user` `[B, S]`.
        """
        index = np.where(index < 0, self.n_units, index)
        items = self.items[index]
        mask = items > 0
        inputs = np.zeros_like(items)
        inputs[..., 1:] = items[..., :-1]
        inputs[~mask] = 0
        return {
            "items": items,
            "inputs": inputs,
            "mask": mask,
            "score": self.score[index],
            "session_mask": mask[..., 0],
            "user_start": self.user_start[index],
            "gap": self.gap[index],
            "user": self.user[index],
        }

    def user_tensors(self, user, n_slots=None):
        """One user's sessions padded to `[S, L]` (S = the user's session count, or `n_slots`).

        Args:
            user: int. A user index present in the view.
            n_slots: int or `None`. Pad (or refuse if too small) to this many session slots.

        Returns:
            dict like `gather` without the batch axis.
        """
        k = np.searchsorted(self.users, user)
        if k >= len(self.users) or self.users[k] != user:
            raise KeyError(f"user index {user} is not in this view")
        rows = np.arange(self.user_ptr[k], self.user_ptr[k + 1])
        if n_slots is not None:
            if n_slots < len(rows):
                raise ValueError(f"user {user} has {len(rows)} sessions > n_slots={n_slots}")
            rows = np.append(rows, np.full(n_slots - len(rows), -1))
        return {key: value[0] for key, value in self.gather(rows[None, :]).items()}


@dataclasses.dataclass
class FlatTable(_PaddedTable):
    """Every user's whole history as consecutive chunks of T events (+ one padding row).

    Attributes:
        items, inputs: int32 `[C + 1, T]`. Targets and previous items of the user's history.
        score: bool `[C + 1, T]`.
        session_start: bool `[C + 1, T]`. `True` at the first event of every session.
        user: int32 `[C + 1]`; user_start: bool `[C + 1]` (`True` for a user's first chunk).
        user_ptr: int64 `[U + 1]`; users: int32 `[U]`.
        event: int64 `[C + 1, T]` or `None`. The view index of every cell's event (-1 = padding).
    """

    items: np.ndarray
    inputs: np.ndarray
    score: np.ndarray
    session_start: np.ndarray
    user: np.ndarray
    user_start: np.ndarray
    user_ptr: np.ndarray
    users: np.ndarray
    event: np.ndarray | None = None

    @classmethod
    def from_view(cls, view, max_len=500):
        """Build the table from an `EventView`.

        Args:
            view: `EventView`.
            max_len: int. T, events per chunk (the flat history cap). Defaults to 500.

        Returns:
            `FlatTable`.
        """
        if max_len < 1:
            raise ValueError(f"max_len must be ≥ 1, got {max_len}")
        n = len(view)
        new_user = np.ones(n, dtype=bool)
        if n > 1:
            new_user[1:] = view.user[1:] != view.user[:-1]
        user_first = np.flatnonzero(new_user)
        uid = np.cumsum(new_user) - 1
        idx_in_user = np.arange(n) - user_first[uid] if n else np.zeros(0, np.int64)
        chunk_in_user = idx_in_user // max_len
        new_chunk = new_user | (idx_in_user % max_len == 0)
        cid = np.cumsum(new_chunk) - 1
        n_chunks = int(cid[-1]) + 1 if n else 0
        col = idx_in_user % max_len
        prev = np.zeros(n, dtype=np.int32)
        if n > 1:
            prev[1:] = view.item[:-1]
        prev[new_user] = 0
        shape = (n_chunks + 1, max_len)
        items, inputs = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
        score, session_start = np.zeros(shape, bool), np.zeros(shape, bool)
        items[cid, col] = view.item
        inputs[cid, col] = prev
        score[cid, col] = view.score
        session_start[cid, col] = _session_boundaries(view)
        first_of_chunk = np.flatnonzero(new_chunk)
        user = np.zeros(n_chunks + 1, dtype=np.int32)
        user[:n_chunks] = view.user[first_of_chunk]
        user_start = np.zeros(n_chunks + 1, dtype=bool)
        user_start[:n_chunks] = chunk_in_user[first_of_chunk] == 0
        user_ptr, users = _user_pointers(user[:n_chunks])
        event = np.full(shape, -1, dtype=np.int64)
        event[cid, col] = np.arange(n)
        return cls(items, inputs, score, session_start, user, user_start, user_ptr, users, event)

    def _rows(self, index):
        return np.where(index < 0, self.n_units, index)[:, 0]

    def gather(self, index):
        """The batch for chunk indices `index` (`[B, 1]`, -1 = padding).

        Returns:
            dict of NumPy arrays: `items`, `inputs`, `mask`, `score`, `session_start` `[B, T]`;
            `user_start`, `user` `[B]`.
        """
        return gather_rows(self, self._rows(index), ("score", "session_start", "user_start", "user"))
