"""`UserState`: what the user-interest store keeps per user, and its byte encoding.

The talk's web-scale design stores each user's interest — the high-level state — and loads it
when the user acts. Besides that state vector `[H]` (the *context* of the open session: the
state after the user's finished sessions, decayed, i.e. exactly what the low level reads), a
record holds what the online session rule needs: the open session's item indices (≤ L), the
last timestamp, the timestamp of the session's last kept event (the decay's gap is measured
from it), the previous item (repeat collapsing) and the items seen at the last timestamp
(exact duplicates), plus counters.

Encoding: the vector as raw little-endian float32 bytes (exact, compact) and the rest as JSON
(readable with `sqlite3` or `redis-cli`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np


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
        """`(vector_bytes, meta_json)` for a store."""
        meta = {
            "session": [int(i) for i in self.session],
            "last_timestamp": self.last_timestamp,
            "last_kept_timestamp": self.last_kept_timestamp,
            "previous_item": int(self.previous_item),
            "items_at_last_timestamp": [int(i) for i in self.items_at_last_timestamp],
            "n_events": int(self.n_events),
            "n_sessions": int(self.n_sessions),
        }
        vector = np.ascontiguousarray(self.context, dtype="<f4").tobytes()
        return vector, json.dumps(meta, separators=(",", ":"))

    @classmethod
    def decode(cls, vector, meta):
        """Inverse of `encode`."""
        values = json.loads(meta)
        context = np.frombuffer(vector, dtype="<f4").astype(np.float32)
        return cls(context=context, **values)

    def copy(self):
        """A copy whose context and lists are the copy's own (the constructor directly: this runs per event)."""
        return UserState(self.context.copy(), list(self.session), self.last_timestamp, self.last_kept_timestamp,
                         self.previous_item, list(self.items_at_last_timestamp), self.n_events, self.n_sessions)
