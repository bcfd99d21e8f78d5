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
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.data import integrity, sessionize, splits, vocabulary
from hiertcn_keras.data.errors import DataError
from hiertcn_keras.data.prepare import EVENT_COLUMNS, FORMAT_VERSION

EVENTS_DIR = "events"


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


def event_files(path):
    """The Parquet files holding a prepared folder's events, in event order.

    The pandas engine writes one `events.parquet`; the Spark engine writes `events/part-*.parquet`,
    one part per bucket of users, named so that the parts in name order, concatenated, are the
    events in (user, time, row) order (docs/spark.md).

    Args:
        path: str or Path. A prepared folder.

    Returns:
        list of Path.
    """
    path = Path(path)
    if (path / "events.parquet").is_file():
        return [path / "events.parquet"]
    parts = sorted((path / EVENTS_DIR).glob("part-*.parquet"))
    if not parts:
        raise DataError("no part-*.parquet files", path=path / EVENTS_DIR)
    return parts


def read_events(path):
    """A prepared folder's events as arrays, from `events.parquet` or the `events/` parts.

    Args:
        path: str or Path. A prepared folder.

    Returns:
        dict of column name → array `[n]` (`EVENT_COLUMNS`), identical for both layouts.
    """
    columns = {c: [] for c in EVENT_COLUMNS}
    last_user = 0
    for file in event_files(path):
        table = read_parquet(file)
        absent = [c for c in EVENT_COLUMNS if c not in table.column_names]
        if absent:
            raise DataError(f"missing columns {absent}", path=file)
        user = table.column("user").to_numpy()
        if len(user) and user[0] <= last_user and file.parent.name == EVENTS_DIR:
            raise DataError(
                f"part starts at user {user[0]} but an earlier part reached user {last_user}: each user "
                "must be whole in one part and parts in user order; prepare again",
                path=file,
            )
        last_user = user[-1] if len(user) else last_user
        for c in EVENT_COLUMNS:
            columns[c].append(table.column(c).to_numpy())
    return {c: arrays[0] if len(arrays) == 1 else np.concatenate(arrays) for c, arrays in columns.items()}


def read_parquet(path):
    """`pyarrow.parquet.read_table`, with an unreadable (damaged, truncated) file a `DataError`."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"cannot read the Parquet file (damaged or truncated?): {error}; prepare "
                        "the data again", path=path) from None


def _read_vocabulary(path):
    try:
        return vocabulary.read_vocabulary(path)
    except (OSError, KeyError, pa.ArrowException) as error:
        raise DataError(f"cannot read the vocabulary (damaged or truncated?): {error}; prepare the "
                        "data again", path=path) from None


def _read_json(path):
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"unreadable JSON (damaged or truncated?): {error}", path=path) from None
    if not isinstance(value, dict):
        raise DataError(f"expected a JSON object, got {type(value).__name__}", path=path)
    return value


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
        missing = [
            name
            for name in ("items.parquet", "users.parquet", "stats.json", "config.json")
            if not (self.path / name).is_file()
        ]
        if not (self.path / "events.parquet").is_file() and not (self.path / EVENTS_DIR).is_dir():
            missing.insert(0, "events.parquet")
        if missing:
            raise DataError(
                f"not a prepared dataset (missing {', '.join(missing)}); create one with `hiertcn prepare`",
                path=self.path,
            )
        self.config = _read_json(self.path / "config.json")
        if self.config.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"prepared with format version {self.config.get('format_version')}, this package reads "
                f"version {FORMAT_VERSION}; prepare the data again",
                path=self.path / "config.json",
            )
        files = self.config.get("files")
        if files is not None:
            integrity.verify_files(self.path, files)
        self.stats = _read_json(self.path / "stats.json")
        self.events = read_events(self.path)
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
        self.verified = "files" if files is not None else self._verify_fingerprint()

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
    def max_session_len(self):
        """The longest session the model must hold: `prepare`'s truncation length, capped at the
        longest session actually present (so `--max-session-len 1000000` costs nothing)."""
        setting = int(self.config["prepare"]["max_session_len"])
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
