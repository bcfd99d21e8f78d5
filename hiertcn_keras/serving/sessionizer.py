"""The online session rule: `prepare`'s steps 3, 4 and 7–10, one event at a time.

`prepare` sorts a user's events by time, drops exact duplicates, sessionizes (a gap ≥
`session_gap` since the previous event starts a session), optionally collapses repeats,
truncates each session to its first L events and drops sessions shorter than the minimum. The
online path sees the same events in arrival order and must make the same decisions from the
stored `UserState` alone:

    event (item i, time t)        decision
    t < last (out of order)       per `out_of_order`: "reject" (error), "skip", or "clamp" (t := last)
    (i, t) already seen at t      duplicate: skipped, the state is unchanged (prepare step 4)
    t − last ≥ gap, or first      new_session: the open session is folded, i opens a new one
    i == previous item (collapse) repeat: extends the session in time, not kept (step 8)
    session already holds L       truncated: extends the session in time, not kept (step 9)
    otherwise                     kept: appended to the open session

Worked example, gap 1800, L = 2: events (a, 0), (b, 60), (c, 120), (d, 1900), (e, 3800) →
new_session, kept, truncated (L reached), truncated (1900 − 120 = 1780 < 1800: the dropped c
still extends the session, because prepare sessionizes before it truncates), new_session
(3800 − 1900 ≥ 1800). Sessions [a, b] and [e].
Out-of-order events cannot be re-sorted once a state has been folded, hence the policy;
"clamp" processes the event as if it arrived at the last timestamp (arrival order is kept).
"""

from __future__ import annotations

import dataclasses

OUT_OF_ORDER = ("reject", "skip", "clamp")


class OutOfOrderError(ValueError):
    """An event older than the user's last event, under `out_of_order="reject"`."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """What an event does to a user's state.

    Attributes:
        kind: str. `new_session`, `kept`, `repeat`, `truncated`, `duplicate`, `out_of_order`.
        timestamp: float. The event's effective time (clamped where asked).
    """

    kind: str
    timestamp: float

    @property
    def changes_state(self):
        return self.kind not in ("duplicate", "out_of_order")

    @property
    def kept(self):
        """The event joins the open session (it is an offline event, with an embedding)."""
        return self.kind in ("new_session", "kept")


def decide(state, item, timestamp, rules, *, out_of_order="reject"):
    """The decision for one event.

    Args:
        state: `UserState` (a new user's is `UserState.initial`).
        item: int. The event's item index (already resolved, ≥ 1).
        timestamp: float. Seconds.
        rules: `SessionRules`.
        out_of_order: str. `reject`, `skip` or `clamp`. Defaults to `reject`.

    Returns:
        `Decision`.

    Raises:
        OutOfOrderError: with `out_of_order="reject"`, for an event older than the last.
    """
    if out_of_order not in OUT_OF_ORDER:
        raise ValueError(f"out_of_order must be one of {OUT_OF_ORDER}, got {out_of_order!r}")
    last = state.last_timestamp
    if last is None:
        return Decision("new_session", timestamp)
    if timestamp < last:
        if out_of_order == "reject":
            raise OutOfOrderError(f"event at {timestamp} is older than the user's last event at {last}")
        if out_of_order == "skip":
            return Decision("out_of_order", timestamp)
        timestamp = last
    if rules.drop_duplicates and timestamp == last and item in state.items_at_last_timestamp:
        return Decision("duplicate", timestamp)
    if rules.starts_session(timestamp - last):
        return Decision("new_session", timestamp)
    if rules.collapse_repeats and item == state.previous_item:
        return Decision("repeat", timestamp)
    if len(state.session) >= rules.max_session_len:
        return Decision("truncated", timestamp)
    return Decision("kept", timestamp)


def apply(state, item, decision):
    """The state after an event, except the fold (the caller sets `context` on new sessions).

    Args:
        state: `UserState`, left unchanged.
        item: int. The item index.
        decision: `Decision` from `decide`, with `changes_state`.

    Returns:
        A new `UserState`.
    """
    new = state.copy()
    t = decision.timestamp
    if decision.kind == "new_session":
        new.session = []
        new.n_sessions += 1
    if decision.kept:
        new.session.append(int(item))
        new.last_kept_timestamp = t
    new.items_at_last_timestamp = (new.items_at_last_timestamp if t == state.last_timestamp else []) + [int(item)]
    new.last_timestamp = t
    new.previous_item = int(item)
    new.n_events += 1
    return new
