"""The per-bucket steps of the Spark `prepare`: plain pandas/NumPy, run inside Spark tasks.

A *bucket* is a set of users with contiguous ranks in user-id order (`prepare_spark` cuts the
ranks into buckets of about `events_per_bucket` events). Every step between the global item
filter and the global vocabulary looks at one user's events only, so a bucket is processed
alone with the very functions the pandas engine calls (`prepare.duplicate_mask`,
`filters.count_range_masks`, `prepare.session_steps`); and because buckets are rank ranges,
the prepared events of bucket 0, 1, 2, ... concatenated are the single-file event order.

Input rows carry `rank` (user rank in id order), `code` (item code in first-appearance order),
`timestamp`, `row` (source order), `bucket`, `drop` (0 = kept, else 1 + index in
`prepare.DROP_REASONS`), and `session` / `event_type` when the log has them. Rows dropped by an
earlier step pass through untouched, so the drops are counted from the data at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from hiertcn_keras.artifacts.atomic import atomic_write
from hiertcn_keras.data import filters, splits, stats
from hiertcn_keras.data.prepare import (
    DROP_REASONS,
    SESSION_DROP_REASONS,
    duplicate_mask,
    session_steps,
    write_events,
)

DROP_CODE = {reason: k + 1 for k, reason in enumerate(DROP_REASONS)}


def _split_active(pdf):
    active = pdf[pdf["drop"].to_numpy() == 0]
    order = np.lexsort((active["row"].to_numpy(), active["timestamp"].to_numpy(), active["rank"].to_numpy()))
    return pdf[pdf["drop"].to_numpy() != 0], active.iloc[order].reset_index(drop=True)


def _codes(series):
    # Equal values get equal codes (missing values share -1), exactly what the pandas engine's
    # whole-log `pd.factorize` gives to the comparisons that use them.
    return pd.factorize(series, sort=False)[0].astype(np.int64)


def _mark(active, mask, reason):
    drop = active["drop"].to_numpy().copy()
    drop[mask] = DROP_CODE[reason]
    active["drop"] = drop.astype(np.int8)


def dedup_bucket(pdf, config):
    """Step 4 on one bucket: mark exact duplicates (`drop = duplicate`).

    Args:
        pdf: `pandas.DataFrame` of one bucket (see the module docstring).
        config: `PrepareConfig`.

    Returns:
        `pandas.DataFrame`, same columns, active rows sorted by (rank, timestamp, row).
    """
    passive, active = _split_active(pdf)
    if config.drop_duplicates and len(active) > 1:
        et = _codes(active["event_type"]) if "event_type" in active else None
        is_dup = duplicate_mask(active["rank"].to_numpy(), active["code"].to_numpy(),
                                active["timestamp"].to_numpy(), et)
        _mark(active, is_dup, "duplicate")
    out = pd.concat([active, passive], ignore_index=True)
    for column in ("session", "event_type"):
        if column in out:
            # PySpark's Arrow writer takes NumPy-backed text (pandas 3 reads it Arrow-backed).
            out[column] = out[column].astype(object)
    return out


def session_bucket(pdf, config, *, dedup):
    """Steps (4,) 6–10 on one bucket: duplicates if `dedup`, user activity, sessions.

    Args:
        pdf: `pandas.DataFrame` of one bucket.
        config: `PrepareConfig`.
        dedup: bool. Run step 4 here (when no item-support filter separates it from step 6).

    Returns:
        `pandas.DataFrame` with `rank`, `code`, `timestamp`, `row`, `bucket`, `drop`, and for
        kept rows `buser` (user number within the bucket), `bsess` (session number within the
        bucket, contiguous) and `position`; -1 in those for dropped rows.
    """
    if dedup:
        pdf = dedup_bucket(pdf, config)
    passive, active = _split_active(pdf)
    rank = active["rank"].to_numpy()
    new_user = np.ones(len(rank), dtype=bool)
    new_user[1:] = rank[1:] != rank[:-1]
    user = np.cumsum(new_user) - 1
    too_few, too_many = filters.count_range_masks(user, config.min_user_events, config.max_user_events,
                                                  int(new_user.sum()))
    _mark(active, too_few, "user_too_few_events")
    _mark(active, too_many, "user_too_many_events")
    live = np.flatnonzero(~(too_few | too_many))
    sess_key = _codes(active["session"].iloc[live]) if config.sessions == "column" else None
    keep, starts, pos, removed_by = session_steps(user[live], active["code"].to_numpy()[live],
                                                  active["timestamp"].to_numpy()[live], config,
                                                  session_key=sess_key)
    drop = active["drop"].to_numpy().copy()
    reason_code = np.array([0] + [DROP_CODE[r] for r in SESSION_DROP_REASONS], np.int8)
    drop[live] = np.where(keep, drop[live], reason_code[removed_by])
    active["drop"] = drop.astype(np.int8)
    n = len(active)
    buser = np.full(n, -1, np.int64)
    bsess = np.full(n, -1, np.int64)
    position = np.full(n, -1, np.int16)
    kept = live[keep]
    kept_user = user[kept]
    first = np.ones(len(kept), dtype=bool)
    first[1:] = kept_user[1:] != kept_user[:-1]
    buser[kept] = np.cumsum(first) - 1
    bsess[kept] = np.cumsum(starts) - 1
    position[kept] = pos
    active["buser"], active["bsess"], active["position"] = buser, bsess, position
    for column, value in (("buser", -1), ("bsess", -1), ("position", -1)):
        passive = passive.assign(**{column: value})
    out = pd.concat([active, passive], ignore_index=True)
    return out[list(SESSION_COLUMNS)].astype(SESSION_DTYPES)


SESSION_COLUMNS = ("rank", "code", "timestamp", "row", "bucket", "drop", "buser", "bsess", "position")
SESSION_DTYPES = {"rank": "int64", "code": "int64", "timestamp": "float64", "row": "int64",
                  "bucket": "int32", "drop": "int8", "buser": "int64", "bsess": "int64",
                  "position": "int16"}


def finalize_bucket(pdf, plan):
    """Global indices, split and the part file of one bucket; returns its statistics summary.

    Args:
        pdf: `pandas.DataFrame`: the kept rows of one bucket from `session_bucket`.
        plan: dict made by `prepare_spark`: `events_dir`, `graph_dir` (or `None`), `window`,
            `user_offset` / `session_offset` (bucket → first user index − 1 / first session),
            `item_index` (item code → vocabulary index), `n_items`, `n_catalogue`, `protocol`,
            `cuts` (temporal) or `n_train_users` / `n_valid_users` (paper).

    Returns:
        `pandas.DataFrame` with one row: `bucket`, `summary` (JSON of `stats.summarize`).
    """
    order = np.lexsort((pdf["row"].to_numpy(), pdf["timestamp"].to_numpy(), pdf["rank"].to_numpy()))
    pdf = pdf.iloc[order]
    bucket = int(pdf["bucket"].iloc[0])
    user0 = pdf["buser"].to_numpy() + plan["user_offset"][bucket]  # 0-based user index
    columns = {
        "user": (user0 + 1).astype(np.int32),
        "item": plan["item_index"][pdf["code"].to_numpy()].astype(np.int32),
        "timestamp": pdf["timestamp"].to_numpy(np.float64),
        "session": (pdf["bsess"].to_numpy() + plan["session_offset"][bucket]).astype(np.int32),
        "position": pdf["position"].to_numpy().astype(np.int16),
    }
    if plan["protocol"] == "temporal":
        split = np.zeros(len(pdf), np.int8)
        split[columns["timestamp"] >= plan["cuts"][0]] = splits.VALID
        split[columns["timestamp"] >= plan["cuts"][1]] = splits.TEST
    else:
        split = np.full(len(pdf), splits.TEST, np.int8)
        split[user0 < plan["n_train_users"] + plan["n_valid_users"]] = splits.VALID
        split[user0 < plan["n_train_users"]] = splits.TRAIN
    columns["split"] = split
    atomic_write(Path(plan["events_dir"]) / f"part-{bucket:06d}.parquet", lambda p: write_events(p, columns))
    if plan["graph_dir"] is not None:
        _write_graph_part(columns, plan, bucket)
    summary = stats.summarize(columns["user"], columns["item"], columns["timestamp"], columns["session"],
                              columns["split"], plan["n_catalogue"])
    for key in ("session_length", "sessions_per_user", "events_per_user"):
        summary[key] = summary[key].tolist()
    first = np.ones(len(pdf), dtype=bool)
    rank = pdf["rank"].to_numpy()
    first[1:] = rank[1:] != rank[:-1]
    summary["ranks"] = rank[first].tolist()  # the users present, for the user vocabulary
    return pd.DataFrame({"bucket": [bucket], "summary": [json.dumps(summary)]})


def _write_graph_part(columns, plan, bucket):
    """This bucket's co-interaction counts (its users' training events) as (src, dst, weight)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hiertcn_keras.data.dataset import EventView
    from hiertcn_keras.graph.cointeraction import cooccurrence_counts

    train = columns["split"] == splits.TRAIN
    if not train.any():
        return
    items = columns["item"][train]
    # Count on the bucket's own items (1..k) so the matrix stays small, then map back.
    local_ids, local = np.unique(items, return_inverse=True)
    view = EventView(user=columns["user"][train], item=(local + 1).astype(np.int32),
                     timestamp=columns["timestamp"][train], session=columns["session"][train],
                     position=columns["position"][train], score=np.ones(int(train.sum()), bool),
                     split="train")
    counts = cooccurrence_counts(view, len(local_ids) + 1, window=plan["window"]).tocoo()
    table = pa.table({"src": local_ids[counts.row - 1].astype(np.int32),
                      "dst": local_ids[counts.col - 1].astype(np.int32),
                      "weight": counts.data.astype(np.float64)})
    atomic_write(Path(plan["graph_dir"]) / f"part-{bucket:06d}.parquet", lambda p: pq.write_table(table, p))
