"""Top-K recommendations for many users at once, from a click log (`hiertcn recommend --log`).

Each user's events, in time order (source order among equal times), go through the run's
online path in memory (`OnlineRecommender` with an in-memory user store): the same session
rule, duplicate and repeat handling, truncation and model as `hiertcn serve` and the
single-user `hiertcn recommend --history`, so a user's rows here equal what that command prints
for the same history. Events whose item is not in the run's vocabulary are skipped and
counted (with examples), never dropped silently; users asked for (`users`) but absent from the
log get the zero state's ranking and are counted.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pandas as pd

COLUMNS = ("user_id", "rank", "item_id", "score")


@dataclasses.dataclass
class BatchResult:
    """Recommendations of many users.

    Attributes:
        table: `pandas.DataFrame` with columns `user_id` (str), `rank` (int, 1 = best),
            `item_id` (str), `score` (float32); K rows per user, users in first-seen order.
        report: dict. Counts: users, users without history, events, each event outcome
            (`new_session`, `kept`, ..., `unknown_item`), and up to 10 example unknown ids.
    """

    table: pd.DataFrame
    report: dict


def recommend_batch(recommender, events, *, k=10, users=None, exclude_seen=True, at=None):
    """Replay a log through the online path and rank the catalogue for every user.

    Args:
        recommender: `OnlineRecommender` (an in-memory store: nothing is kept).
        events: `pandas.DataFrame` with columns `user`, `item`, `timestamp` (seconds) and
            optionally `row` (source order, breaks ties of equal times).
        k: int ≥ 1. Items per user.
        users: iterable of user ids or `None` (every user of the log).
        exclude_seen: bool. Leave out the open session's items. Defaults to `True`.
        at: float or `None`. Rank as of this time (see `OnlineRecommender.recommend`).

    Returns:
        `BatchResult`.
    """
    if k < 1:
        raise ValueError(f"--k must be ≥ 1, got {k}")
    frame = pd.DataFrame({"user": events["user"].astype(str), "item": events["item"].astype(str),
                          "timestamp": events["timestamp"].astype(float)})
    order = ["user", "timestamp"] + (["row"] if "row" in events.columns else [])
    if "row" in events.columns:
        frame["row"] = events["row"].to_numpy()
    frame = frame.sort_values(order, kind="stable")
    wanted = list(dict.fromkeys(str(u) for u in users)) if users is not None else None
    if wanted is not None:
        frame = frame[frame["user"].isin(set(wanted))]
    outcomes = collections.Counter()
    unknown = collections.Counter()
    for user, item, t in zip(frame["user"].tolist(), frame["item"].tolist(), frame["timestamp"].tolist()):
        status = recommender.observe(user, item, t).status
        outcomes[status] += 1
        if status == "unknown_item":
            unknown[item] += 1
    seen_users = list(dict.fromkeys(frame["user"].tolist()))
    targets = wanted if wanted is not None else seen_users
    parts = []
    for user in targets:
        recs = recommender.recommend(user, k, exclude_seen=exclude_seen, at=at)
        parts.append(pd.DataFrame({
            "user_id": user,
            "rank": np.arange(1, len(recs.items) + 1, dtype=np.int32),
            "item_id": [str(i) for i in recs.items],
            "score": np.asarray(recs.scores, np.float32),
        }))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"user_id": pd.Series(dtype=str), "rank": pd.Series(dtype=np.int32),
         "item_id": pd.Series(dtype=str), "score": pd.Series(dtype=np.float32)})
    report = {
        "users": len(targets),
        "users_without_history": len(set(targets) - set(seen_users)),
        "events": int(len(frame)),
        "outcomes": dict(outcomes),
        "unknown_item_events": int(sum(unknown.values())),
        "unknown_item_ids": len(unknown),
        "unknown_item_examples": [item for item, _ in unknown.most_common(10)],
    }
    return BatchResult(table[list(COLUMNS)], report)


def read_users(path):
    """User ids of a file, one per line (blank lines ignored), in file order without repeats."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"users file not found: {path}")
    return list(dict.fromkeys(line.strip() for line in path.read_text().splitlines() if line.strip()))


def write_parquet(table, path):
    """Write the recommendations as Parquet, atomically (a temporary file, then a rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hiertcn_keras.artifacts.atomic import atomic_file

    with atomic_file(path, "wb") as f:
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), f)
