"""`UserState`: what the user-interest store keeps per user, and its byte encoding.

The talk's web-scale design stores each user's interest — the high-level state — and loads it
when the user acts. Besides that state vector `[H]` (the *context* of the open session: the
state after the user's finished sessions, decayed, i.e. exactly what the low level reads), a
record holds what the online session rule needs: the open session's item indices (≤ L), the
last timestamp, the timestamp of the session's last kept event (the decay's gap is measured
from it), the previous item (repeat collapsing) and the items seen at the last timestamp
(exact duplicates), plus counters.

Encoding: the vector as raw little-endian float32 bytes (exact, compact) and the rest as a
small binary record (`META_FORMAT` 1, little-endian): a format byte, the two timestamps as
float64 (NaN for none), the previous item, the event and session counts and the two list
lengths as integers, then the open session's items and the items at the last timestamp as
int64. Reading it costs about a third of the JSON it replaced (a few µs per user, per read and
per write of every event). Records written as JSON before (a text starting with `{`) are still
read, and are rewritten in the binary format at the user's next event.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import struct

import numpy as np

META_FORMAT = 1
# format, last and last kept timestamps, previous item, events, sessions, |session|, |items at last timestamp|
_META = struct.Struct("<BddqqqII")
_NONE = float("nan")  # a timestamp not set (accepted timestamps are finite; NaN != NaN reads it back as None)
_JSON_START = ord("{")  # a record of the JSON format before `META_FORMAT`


@functools.lru_cache(maxsize=64)
def _items(n):
    """The `struct` of n little-endian int64 items (a session holds at most L)."""
    return struct.Struct(f"<{n}q")


@dataclasses.dataclass
class UserState:
    """One user's stored interest.

    Attributes:
        context: float32 `[H]`. The high-level state before the open session.
        session: list of int. The open session's kept item indices, in order (≤ L).
        last_timestamp: float or `None`. Time of the last accepted event (any kind).
        last_kept_timestamp: float or `None`. Time of the open session's last kept event.
        previous_item: int. Item index of the previous accepted event of the open session
            (0 = none).
        items_at_last_timestamp: list of int. Items accepted at `last_timestamp`.
        n_events: int. Accepted events (kept or truncated/collapsed, not skipped).
        n_sessions: int. Sessions started.
    """

    context: np.ndarray
    session: list = dataclasses.field(default_factory=list)
    last_timestamp: float | None = None
    last_kept_timestamp: float | None = None
    previous_item: int = 0
    items_at_last_timestamp: list = dataclasses.field(default_factory=list)
    n_events: int = 0
    n_sessions: int = 0

    @classmethod
    def initial(cls, state_size):
        """A user never seen: the zero state, no session (docs/concepts.md#high-level-long-term-interest: ŝ = 0)."""
        return cls(np.zeros(state_size, dtype=np.float32))

    def encode(self):
        """`(vector_bytes, meta_bytes)` for a store (see the module docstring)."""
        last = _NONE if self.last_timestamp is None else float(self.last_timestamp)
        kept = _NONE if self.last_kept_timestamp is None else float(self.last_kept_timestamp)
        meta = _META.pack(META_FORMAT, last, kept, int(self.previous_item), int(self.n_events), int(self.n_sessions),
                          len(self.session), len(self.items_at_last_timestamp))
        items = np.array([*self.session, *self.items_at_last_timestamp], dtype="<i8")
        return np.ascontiguousarray(self.context, dtype="<f4").tobytes(), meta + items.tobytes()

    @classmethod
    def decode(cls, vector, meta):
        """Inverse of `encode`; also reads the JSON records of earlier versions (`str` or bytes).

        Raises:
            ValueError: a record of an unknown format.
        """
        context = np.frombuffer(vector, dtype="<f4").astype(np.float32)
        if isinstance(meta, str) or (len(meta) and meta[0] == _JSON_START):
            return cls(context=context, **json.loads(meta))
        if len(meta) < _META.size or meta[0] != META_FORMAT:
            raise ValueError(f"user state record of an unknown format (first byte {bytes(meta[:1])!r}, "
                             f"{len(meta)} bytes)")
        _, last, kept, previous, n_events, n_sessions, n_session, n_last = _META.unpack_from(meta)
        n_items, rest = divmod(len(meta) - _META.size, 8)
        if rest or n_items != n_session + n_last:
            raise ValueError(f"user state record holds {len(meta) - _META.size} bytes of items, its header says "
                             f"{n_session + n_last} items")
        items = list(_items(n_items).unpack_from(meta, _META.size))
        return cls(context, items[:n_session], None if last != last else last, None if kept != kept else kept,
                   previous, items[n_session:], n_events, n_sessions)

    def copy(self):
        """A copy whose context and lists are the copy's own (the constructor directly: this runs per event)."""
        return UserState(self.context.copy(), list(self.session), self.last_timestamp, self.last_kept_timestamp,
                         self.previous_item, list(self.items_at_last_timestamp), self.n_events, self.n_sessions)
