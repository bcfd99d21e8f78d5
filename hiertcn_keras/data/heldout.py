"""A held-out log of the user's own, prepared with a trained run's vocabulary and session rules.

`hiertcn evaluate --run R --test-log FILE` scores a log the model never saw. Its events are
prepared as `prepare` prepared the run's data — exact duplicates dropped, sessions cut by the
same idle gap, repeats collapsed, truncated at L, short sessions dropped, with the same
settings — except that the vocabulary is the run's, never rebuilt:

- events of items outside the run's vocabulary cannot be fed to the model: they are removed
  before sessionizing (as `prepare`'s item filters remove events) and counted, with examples;
- events of items in the vocabulary but not in the catalogue (never seen in training) are
  kept as inputs and not scored (they cannot be ranked), as in the prepared test split;
- every other event is a scored target. Each user of the log starts from the zero state (the
  log is the user's whole visible history), so the log's first events are cold-start
  predictions.

The result is an `EventView` that `training.evaluate` scores with the same metrics and tie
policy as a prepared split (through `HeldoutData`, which offers the dataset interface it reads).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from hiertcn_keras.data import sessionize
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.prepare import PrepareConfig, duplicate_mask, session_steps

PROTOCOL = "heldout"


@dataclasses.dataclass
class HeldoutData:
    """A prepared held-out log, usable where `evaluate_recommender` expects a `PreparedDataset`.

    Attributes:
        test: `EventView` of the log (split `"test"`).
        report: dict. Counts: rows read, events kept, scored, each reason an event was removed
            or not scored, users, and the share of the log's events the run's vocabulary covers.
        protocol: str. `"heldout"`.
    """

    test: EventView
    report: dict
    protocol: str = PROTOCOL

    def view(self, split):
        if split != "test":
            raise ValueError(f"a held-out log has only the test split, not {split!r}")
        return self.test


def prepare_heldout(events, item_ids, n_catalogue, prepare_settings):
    """Prepare a held-out log with a run's vocabulary and session settings.

    Args:
        events: `pandas.DataFrame` with `user`, `item`, `timestamp` (seconds) and optionally
            `row` (source order) — a `LoadedLog.events`.
        item_ids: sequence of str. The run's vocabulary: `item_ids[i]` is index i + 1.
        n_catalogue: int. Indices `1..n_catalogue` are rankable.
        prepare_settings: dict. The `prepare` settings of the run's dataset (`config.json`).

    Returns:
        `HeldoutData`.
    """
    config = PrepareConfig.from_dict(dict(prepare_settings))
    if config.sessions != "gap":
        raise ValueError("the run's data was sessionized by a session column; a held-out log is cut by the idle "
                         "gap only, so it cannot be prepared the same way")
    order = ["user", "timestamp"] + (["row"] if "row" in events.columns else [])
    frame = events.assign(user=events["user"].astype(str), item=events["item"].astype(str)).sort_values(
        order, kind="stable")
    n_rows = len(frame)
    index = pd.Index(pd.Series(item_ids, dtype=str))
    item = index.get_indexer(frame["item"]) + 1  # 0: not in the vocabulary
    unknown = item == 0
    unknown_ids = frame["item"].to_numpy()[unknown]
    user_codes, user_names = pd.factorize(frame["user"])
    user = user_codes[~unknown].astype(np.int64) + 1
    item = item[~unknown].astype(np.int64)
    timestamp = frame["timestamp"].to_numpy(np.float64)[~unknown]
    duplicate = duplicate_mask(user, item, timestamp) if config.drop_duplicates else np.zeros(len(item), bool)
    user, item, timestamp = user[~duplicate], item[~duplicate], timestamp[~duplicate]
    keep, starts, position, removed_by = session_steps(user, item, timestamp, config)
    user, item, timestamp = user[keep], item[keep], timestamp[keep]
    session = sessionize.session_ids(starts)
    score = item <= n_catalogue
    view = EventView(user=user.astype(np.int32), item=item.astype(np.int32), timestamp=timestamp,
                     session=np.asarray(session, np.int32), position=np.asarray(position, np.int16),
                     score=score, split="test")
    reasons = ("repeat", "session_truncated", "short_session")
    counts = collections_counts(unknown_ids)
    report = {
        "rows": int(n_rows),
        "users": int(len(np.unique(user))),
        "users_in_log": int(len(user_names)),
        "unknown_item_events": int(unknown.sum()),
        "unknown_item_ids": len(counts),
        "unknown_item_examples": list(counts)[:10],
        "duplicates": int(duplicate.sum()),
        **{reason: int((removed_by == k + 1).sum()) for k, reason in enumerate(reasons)},
        "events": int(len(item)),
        "not_scored_outside_catalogue": int((~score).sum()),
        "scored": int(score.sum()),
        "coverage": float(1.0 - unknown.sum() / n_rows) if n_rows else 0.0,
    }
    return HeldoutData(view, report)


def collections_counts(ids):
    """Distinct ids, most frequent first (ties by first occurrence)."""
    if len(ids) == 0:
        return {}
    counts = pd.Series(ids).value_counts(sort=True)
    return dict(zip(counts.index.astype(str), counts.astype(int)))
