"""`PreparedDataset`: read a folder written by `prepare`, and the event views of each split.

A *view* is what a model sees for one split: the visible events (inputs that build the state)
and which of them are scored targets.

| protocol | split        | visible events                     | scored targets                   |
|----------|--------------|------------------------------------|----------------------------------|
| temporal | train        | events before cut 1                | all of them                      |
| temporal | valid / test | events before cut 2 / all events   | the split's events in catalogue  |
| paper    | any          | the split's users' events          | those events in the catalogue    |

Evaluation views keep only users with at least one scored target (the others cannot change
any metric) but keep *all* their earlier events, so the state is built from the whole history.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa

from hiertcn_keras.artifacts import prepared
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.session_rules import SessionRules
from hiertcn_keras.data import sessionize, splits, vocabulary


@dataclasses.dataclass
class EventView:
    """The events of one split's view, sorted by (user, time).

    Attributes:
        user, item, timestamp, session, position: aligned arrays `[n]` (see `PreparedData`).
        score: bool array `[n]`, `True` for the scored targets.
        split: str. The split this view evaluates (or trains on).
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    session: np.ndarray
    position: np.ndarray
    score: np.ndarray
    split: str

    def __len__(self):
        return len(self.item)

    @classmethod
    def from_arrays(cls, user, item, session, *, timestamp=None, score=None, split="test"):
        """A view from aligned arrays already sorted by (user, time) — handy for small examples.

        Args:
            user, item, session: int arrays `[n]`.
            timestamp: float array `[n]` or `None` (then 0, 1, 2, ... in order).
            score: bool array `[n]` or `None` (then every event is scored).
            split: str. Defaults to `"test"`.

        Returns:
            `EventView`, with positions counted within each (user, session) run.
        """
        user, item, session = (np.asarray(a, dtype=np.int64) for a in (user, item, session))
        n = len(item)
        starts = np.ones(n, dtype=bool)
        starts[1:] = (session[1:] != session[:-1]) | (user[1:] != user[:-1])
        return cls(
            user=user.astype(np.int32),
            item=item.astype(np.int32),
            timestamp=np.arange(n, dtype=np.float64) if timestamp is None else np.asarray(timestamp, np.float64),
            session=session.astype(np.int32),
            position=sessionize.positions(starts).astype(np.int16),
            score=np.ones(n, dtype=bool) if score is None else np.asarray(score, bool),
            split=split,
        )

    @property
    def n_scored(self):
        return int(self.score.sum())


def _read_vocabulary(path):
    try:
        return vocabulary.read_vocabulary(path)
    except (OSError, KeyError, pa.ArrowException) as error:
        raise DataError(f"cannot read the vocabulary (damaged or truncated?): {error}; prepare the "
                        "data again", path=path) from None


class PreparedDataset:
    """A prepared dataset folder (`events.parquet` or `events/part-*.parquet`, `items.parquet`,
    `users.parquet`, `stats.json`, `config.json`).

    Args:
        path: str or Path. The folder written by `hiertcn prepare`.

    Example:

    >>> data = PreparedDataset("runs/default/prepared")     # doctest: +SKIP
    >>> test = data.view("test")
    >>> test.n_scored
    """

    def __init__(self, path):
        self.path = Path(path)
        self.config, self.stats = prepared.read_metadata(self.path)
        self.events = prepared.read_events(self.path)
        self.items = _read_vocabulary(self.path / "items.parquet")
        self.users = _read_vocabulary(self.path / "users.parquet")
        if len(self.events["item"]) != self.stats.get("n_events"):
            raise DataError(
                f"the events hold {len(self.events['item'])} events but stats.json says "
                f"{self.stats.get('n_events')}; the folder is corrupt, prepare again",
                path=self.path,
            )
        #: How the folder was checked: "files" (per-file sha256), "fingerprint" (an earlier
        #: release's folder, its content hash recomputed) or "none" (no record to check against).
        self.verified = "files" if "files" in self.config else self._verify_fingerprint()

    @property
    def n_items(self):
        """Vocabulary size including index 0 (padding / start token)."""
        return len(self.items) + 1

    @property
    def n_catalogue(self):
        """Items seen in training: indices `1..n_catalogue` are the rankable catalogue."""
        return int(self.config["n_catalogue"])

    @property
    def n_users(self):
        return len(self.users)

    @property
    def protocol(self):
        return self.config["prepare"]["protocol"]

    @property
    def session_rules(self):
        """The `SessionRules` this dataset was prepared with (recorded in `config.json`)."""
        return SessionRules.from_prepare_config(self.config["prepare"], by_gap=False)

    @property
    def max_session_len(self):
        """The longest session the model must hold: `prepare`'s truncation length, capped at the
        longest session actually present (so `--max-session-len 1000000` costs nothing)."""
        setting = self.session_rules.max_session_len
        return max(1, min(setting, self.longest_session))

    @property
    def longest_session(self):
        """Events in the longest session of the data (0 for no events)."""
        position = self.events["position"]
        return int(position.max()) + 1 if len(position) else 0

    def _verify_fingerprint(self):
        """Recompute the content hash of a folder that has no per-file record."""
        from hiertcn_keras.data.prepare import PrepareConfig, fingerprint_chunks

        stored = self.config.get("fingerprint")
        try:
            config = PrepareConfig.from_dict(self.config["prepare"])
        except (KeyError, TypeError, ValueError):
            return "none"
        if stored is None:
            return "none"
        actual = fingerprint_chunks(lambda column: [self.events[column]], config,
                                    self.items["id"].to_numpy(), self.users["id"].to_numpy())
        if actual != stored:
            raise DataError(f"the content does not match the fingerprint recorded when it was prepared "
                            f"({actual} vs {stored}): a file was damaged or changed; prepare the data "
                            "again", path=self.path)
        return "fingerprint"

    @property
    def fingerprint(self):
        return self.config["fingerprint"]

    def item_counts(self, split="train"):
        """Events per item index in a split, `[n_items]` int64 (0 at index 0)."""
        mask = self.events["split"] == splits.split_code(split)
        return np.bincount(self.events["item"][mask], minlength=self.n_items).astype(np.int64)

    def view(self, split, *, scored_users_only=None):
        """The events a model sees for `split`, and which are scored (see the module docstring).

        Args:
            split: str. `"train"`, `"valid"` or `"test"`.
            scored_users_only: bool or `None`. Keep only users with a scored target. Defaults to
                `True` for valid/test and `False` for train.

        Returns:
            `EventView`.
        """
        code = splits.split_code(split)
        ev = self.events
        if self.protocol == "temporal":
            visible = ev["split"] <= code
        else:
            visible = ev["split"] == code
        score = (ev["split"] == code) & (ev["item"] <= self.n_catalogue)
        if scored_users_only is None:
            scored_users_only = code != splits.TRAIN
        if scored_users_only:
            users_with_targets = np.zeros(self.n_users + 1, dtype=bool)
            users_with_targets[ev["user"][score]] = True
            visible &= users_with_targets[ev["user"]]
        return EventView(
            user=ev["user"][visible],
            item=ev["item"][visible],
            timestamp=ev["timestamp"][visible],
            session=ev["session"][visible],
            position=ev["position"][visible],
            score=score[visible],
            split=split,
        )
