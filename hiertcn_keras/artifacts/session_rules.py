"""`SessionRules`: what makes a session, defined once for `prepare`, training and serving.

`prepare` cuts a user's time-sorted events into sessions by an idle gap, drops exact
duplicates, optionally collapses repeats, truncates every session to its first L events and
drops sessions that end up too short. The five settings are recorded flat in the prepared
dataset's `config.json["prepare"]` (beside the other `prepare` settings, unchanged since format
version 1); training (L) and online serving (all five) read them back from there with
`SessionRules.from_prepare_config`, so the offline and the online path cannot disagree.

The idle-gap rule itself is `starts_session`: a gap *equal* to the threshold starts a new
session (as in the official HierTCN code). Worked example with `session_gap=1800`: events at
0, 60, 1860 → the third starts a session (1860 − 60 = 1800 ≥ 1800).
"""

from __future__ import annotations

import dataclasses


def starts_session(elapsed, session_gap):
    """The idle-gap rule: does an event `elapsed` seconds after the previous one start a session?

    Args:
        elapsed: float or float array. Seconds since the user's previous event.
        session_gap: float. The idle gap, seconds.

    Returns:
        bool (or bool array shaped like `elapsed`): `elapsed >= session_gap`.
    """
    return elapsed >= session_gap


@dataclasses.dataclass(frozen=True)
class SessionRules:
    """The session settings of a prepared dataset.

    Args:
        session_gap: float. Idle seconds that start a new session (`>=`). Defaults to 1800.
        max_session_len: int. L; later events of a session are dropped. Defaults to 20.
        collapse_repeats: bool. Drop an event repeating the previous item of its session.
            Defaults to `False`.
        drop_duplicates: bool. Drop an exact repeat of (item, timestamp). Defaults to `True`.
        min_session_len: int. Shorter sessions are dropped (offline) and never folded into the
            state (online). Defaults to 1.
    """

    session_gap: float = 1800.0
    max_session_len: int = 20
    collapse_repeats: bool = False
    drop_duplicates: bool = True
    min_session_len: int = 1

    def __post_init__(self):
        if not self.session_gap > 0:
            raise ValueError(f"session_gap must be > 0 seconds, got {self.session_gap}")
        if self.max_session_len < 1 or self.min_session_len < 1:
            raise ValueError(f"max_session_len and min_session_len must be ≥ 1, got "
                             f"{self.max_session_len}, {self.min_session_len}")

    def starts_session(self, elapsed):
        """`starts_session(elapsed, self.session_gap)`."""
        return starts_session(elapsed, self.session_gap)

    @classmethod
    def from_prepare_config(cls, prepare, session_gap=None, *, by_gap=True):
        """The rules recorded in a prepared dataset's `config.json["prepare"]`.

        Args:
            prepare: dict. The recorded `prepare` settings; absent keys take the defaults above.
            session_gap: float or `None`. Override the recorded idle gap (seconds).
            by_gap: bool. The caller replays the gap rule (online serving): data sessionized by
                the source's session ids (`sessions="column"`) then needs an explicit
                `session_gap`. Defaults to `True`.

        Returns:
            `SessionRules`.
        """
        if by_gap and prepare.get("sessions", "gap") != "gap" and session_gap is None:
            raise ValueError(
                "the run's data was sessionized by the source's session ids (--sessions column); "
                "online serving uses the idle-gap rule: pass session_gap (--session-gap) explicitly"
            )
        casts = {"session_gap": float, "max_session_len": int, "collapse_repeats": bool,
                 "drop_duplicates": bool, "min_session_len": int}
        values = {name: cast(prepare[name]) for name, cast in casts.items() if name in prepare}
        if session_gap is not None:
            values["session_gap"] = float(session_gap)
        return cls(**values)
