"""`prepare_spark`: the `prepare` pipeline on Apache Spark, with the pandas engine's output.

Same steps, same order, same counters as `hiertcn_keras.data.prepare` (see its docstring);
what runs where:

| step                                   | where                                                   |
|----------------------------------------|---------------------------------------------------------|
| 1 loaders                              | one task per file, the pandas loaders' parser (`sources`)|
| user ranks (id order), item codes      | per-user / per-item tables on the driver, NumPy/pandas  |
| 2 event types                          | a Spark column expression                               |
| 4 duplicates                           | per bucket of users (`buckets`), `prepare.duplicate_mask`|
| 5 item support                         | Spark: count per item, join                             |
| 6–10 user activity, sessions, ...      | per bucket, `filters` and `prepare.session_steps`       |
| 11 temporal cuts                       | exact k-th smallest time (`order_statistic`)            |
| 11 paper split, vocabularies           | per-user / per-item tables on the driver                |
| indices, split, part files, statistics | per bucket (`buckets.finalize_bucket`), summed on driver|
| fingerprint                            | driver, streaming the part files column by column       |

Only per-user, per-item and per-bucket tables reach the driver, never events. A *bucket* is a
range of user ranks holding about `events_per_bucket` events; each becomes one part file
`events/part-<bucket>.parquet`, sorted by (user, time, row), and the parts in name order are
the single-file event order.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from hiertcn_keras.artifacts import atomic, integrity, output_guard
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.prepared import EVENTS_DIR
from hiertcn_keras.data import splits, stats, vocabulary
from hiertcn_keras.data.loaders.generic import empty_files_warning
from hiertcn_keras.data.prepare import (
    DROP_REASONS,
    PrepareConfig,
    config_record,
    fingerprint_chunks,
)
from hiertcn_keras.data.spark import buckets, order_statistic, sources

GRAPH_DIR = "cointeraction"
GRAPH_META = "cointeraction.json"


@dataclasses.dataclass(frozen=True)
class SparkOptions:
    """How the Spark engine cuts the work (never what it computes).

    Args:
        events_per_bucket: int. Target events per bucket (= per part file and per pandas task);
            a bucket is held in one task's memory. Defaults to 2,000,000.
        graph_window: int or `None`. Also write the item co-interaction edge counts of the
            training events (`cooccurrence_counts` with this window) under `cointeraction/`.
            Defaults to `None` (no graph).
    """

    events_per_bucket: int = 2_000_000
    graph_window: int | None = None

    def __post_init__(self):
        if self.events_per_bucket < 1:
            raise ValueError(f"events_per_bucket must be ≥ 1, got {self.events_per_bucket}")
        if self.graph_window is not None and self.graph_window < 0:
            raise ValueError(f"graph_window must be ≥ 0, got {self.graph_window}")


def prepare_spark(spark, plan, config, out_dir, options=None, timings=None, *, overwrite=False):
    """Prepare a log with Spark and write the prepared folder (atomically).

    Args:
        spark: `pyspark.sql.SparkSession`.
        plan: `sources.SourcePlan` (from `sources.plan_source`).
        config: `PrepareConfig`.
        out_dir: str or Path. The prepared folder; it (and the input) must be on a file system
            every executor and the driver see at the same path.
        options: `SparkOptions` or `None`.
        timings: dict or `None`. If given, filled with the wall seconds of each phase (`load`,
            `ids`, `sessions`, `split_vocab`, `finalize`, `graph`, `fingerprint`) for benchmarks.
        overwrite: bool. Replace an existing `out_dir` that is not a prepared dataset
            (`hiertcn_keras.artifacts.output_guard`). Defaults to `False`.

    Returns:
        dict: the statistics written to `stats.json`.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    options = options or SparkOptions()
    config = config or PrepareConfig()
    started = time.perf_counter()
    timings = {} if timings is None else timings
    clock = [started]

    def lap(name):
        now = time.perf_counter()
        timings[name] = now - clock[0]
        clock[0] = now

    sc = spark.sparkContext
    output_guard.check_not_input(out_dir, [plan.source, *plan.files])
    with atomic.atomic_dir(out_dir, kind="dataset", force=overwrite) as tmp:
        tmp = tmp.resolve()
        staging = tmp / "_staging"
        staging.mkdir()
        # 1. Loaders: one task per file.
        read = sc.parallelize(range(len(plan.files)), max(1, len(plan.files)))
        loaded = sources.combine(read.map(lambda i: sources.read_file(i, plan, str(staging))).collect())
        if loaded["n_kept"] == 0:
            raise DataError("no events left after loading", path=plan.source)
        dropped = dict(loaded["dropped"])
        for reason in DROP_REASONS:
            dropped.setdefault(reason, 0)
        events = spark.read.parquet(str(staging))
        has_session, has_etype = "session" in plan.columns, "event_type" in plan.columns
        if config.drop_event_types and not has_etype:
            raise ValueError(f"drop_event_types={config.drop_event_types} but the {plan.format} log "
                             "has no event type column")
        if config.sessions == "column" and not has_session:
            raise ValueError(f"sessions='column' but the {plan.format} log has no session column")
        lap("load")
        # Users ranked in id order, items coded in first-appearance order, as `prepare` does
        # with `pd.factorize` over the whole loaded log.
        # One job for both tables: (kind 0 = user, 1 = item, id, first row, events).
        ids = (events.select(F.lit(0).alias("kind"), F.col("user").alias("id"), "row")
               .unionByName(events.select(F.lit(1).alias("kind"), F.col("item").alias("id"), "row"))
               .groupBy("kind", "id").agg(F.min("row").alias("first"), F.count("*").alias("n"))
               .toPandas().sort_values("first", kind="stable"))
        users = ids[ids["kind"] == 0].reset_index(drop=True).rename(columns={"id": "user"})
        items = ids[ids["kind"] == 1].reset_index(drop=True).rename(columns={"id": "item"})
        user_names = users["user"].to_numpy(dtype=object)
        by_id = vocabulary.sorted_id_order(user_names)
        rank = np.empty(len(by_id), dtype=np.int64)
        rank[by_id] = np.arange(len(by_id))
        n_by_rank = np.zeros(len(by_id), np.int64)
        n_by_rank[rank] = users["n"].to_numpy()
        start_of_rank = np.cumsum(n_by_rank) - n_by_rank
        bucket_of_rank = (start_of_rank // options.events_per_bucket).astype(np.int32)
        if bucket_of_rank.max() >= 10**6:
            raise ValueError("more than a million buckets; raise events_per_bucket")
        item_names = items["item"].to_numpy(dtype=object)
        user_map = spark.createDataFrame(pd.DataFrame(
            {"user": user_names.astype(str), "rank": rank, "bucket": bucket_of_rank[rank]}))
        item_map = spark.createDataFrame(pd.DataFrame(
            {"item": item_names.astype(str), "code": np.arange(len(item_names), dtype=np.int64)}))
        coded = events.join(F.broadcast(user_map) if len(users) < 2_000_000 else user_map, "user")
        coded = coded.join(F.broadcast(item_map) if len(items) < 2_000_000 else item_map, "item")

        lap("ids")
        # 2. Event types.
        drop = F.lit(0).cast("byte")
        if config.drop_event_types:
            excluded = F.coalesce(F.col("event_type").isin(list(config.drop_event_types)), F.lit(False))
            drop = F.when(excluded, F.lit(buckets.DROP_CODE["event_type"])).otherwise(0).cast("byte")
        extra = [c for c, present in (("session", has_session), ("event_type", has_etype)) if present]
        coded = coded.select("rank", "code", "timestamp", "row", "bucket", drop.alias("drop"), *extra)
        schema = coded.schema

        # 4. Duplicates and 5. item support (a global count between two per-user steps).
        two_stages = config.min_item_support > 1
        if two_stages:
            deduped = coded.groupBy("bucket").applyInPandas(
                lambda pdf: buckets.dedup_bucket(pdf, config), schema)
            deduped = deduped.persist(StorageLevel.MEMORY_AND_DISK)
            support = deduped.filter("drop = 0").groupBy("code").agg(F.count("*").alias("support"))
            coded = deduped.join(support, "code", "left").select(
                *[F.when((F.col("drop") == 0) & (F.col("support") < config.min_item_support),
                         F.lit(buckets.DROP_CODE["item_support"]).cast("byte"))
                  .otherwise(F.col("drop")).alias("drop") if c == "drop" else F.col(c)
                  for c in schema.names])

        # 4/6–10 per bucket.
        session_schema = ", ".join(f"{c} {_SQL[t]}" for c, t in buckets.SESSION_DTYPES.items())
        sessioned = coded.groupBy("bucket").applyInPandas(
            lambda pdf: buckets.session_bucket(pdf, config, dedup=not two_stages), session_schema)
        sessioned = sessioned.persist(StorageLevel.MEMORY_AND_DISK)
        # Drops by reason, users and sessions per bucket, time range: one job.
        n_buckets = int(bucket_of_rank.max()) + 1
        bucket_users = np.zeros(n_buckets, np.int64)
        bucket_sessions = np.zeros(n_buckets, np.int64)
        n_events, t_lo, t_hi = 0, np.inf, -np.inf
        per_bucket = sessioned.groupBy("bucket", "drop").agg(
            F.count("*").alias("n"), (F.max("buser") + 1).alias("users"), (F.max("bsess") + 1).alias("sessions"),
            F.min("timestamp").alias("t_lo"), F.max("timestamp").alias("t_hi")).collect()
        for r in per_bucket:
            if r["drop"]:
                dropped[DROP_REASONS[r["drop"] - 1]] += int(r["n"])
                continue
            n_events += int(r["n"])
            bucket_users[r["bucket"]] = r["users"]
            bucket_sessions[r["bucket"]] = r["sessions"]
            t_lo, t_hi = min(t_lo, r["t_lo"]), max(t_hi, r["t_hi"])
        kept = sessioned.filter("drop = 0")
        user_offset = np.cumsum(bucket_users) - bucket_users
        n_users = int(bucket_users.sum())

        lap("sessions")
        # 11. Split.
        plan_final = {"protocol": config.protocol, "user_offset": user_offset,
                      "session_offset": np.cumsum(bucket_sessions) - bucket_sessions}
        if config.protocol == "temporal":
            q1, q2 = config.split_quantiles
            if not 0.0 < q1 <= q2 < 1.0:
                raise ValueError(f"split quantiles must satisfy 0 < q1 <= q2 < 1, got {config.split_quantiles}")
            cuts = tuple(order_statistic.kth_smallest(
                kept, "timestamp", splits.lower_quantile_ranks(n_events, config.split_quantiles),
                bounds=(t_lo, t_hi, n_events)))
            plan_final["cuts"] = cuts
            is_train = F.col("timestamp") < F.lit(cuts[0])
        else:
            by_user = splits.user_split(np.arange(n_users), config.split_fractions)
            n_train = int((by_user == splits.TRAIN).sum())
            plan_final.update(n_train_users=n_train, n_valid_users=int((by_user == splits.VALID).sum()))
            cuts = None
            offsets = spark.createDataFrame(pd.DataFrame(
                {"bucket": np.arange(n_buckets, dtype=np.int32), "user_offset": user_offset}))
            kept = kept.join(F.broadcast(offsets), "bucket")
            is_train = (F.col("user_offset") + F.col("buser")) < F.lit(n_train)

        # Vocabularies: users in id order; items catalogue-first (`vocabulary.item_order`).
        item_table = kept.groupBy("code").agg(F.sum(is_train.cast("long")).alias("train")).toPandas()
        item_table = item_table.sort_values("code").reset_index(drop=True)
        codes = item_table["code"].to_numpy()
        train_counts = item_table["train"].to_numpy().astype(np.int64)
        names = item_names[codes]
        order_items, n_catalogue = vocabulary.item_order(train_counts, names)
        item_index = np.zeros(len(item_names), np.int32)
        item_index[codes[order_items]] = np.arange(1, len(codes) + 1)
        item_ids = names[order_items].astype(str)

        lap("split_vocab")
        # Indices, split, part files and statistics, per bucket.
        events_dir = tmp / EVENTS_DIR
        events_dir.mkdir()
        graph_parts = tmp / "_graph_parts" if options.graph_window is not None else None
        if graph_parts is not None:
            graph_parts.mkdir()
        plan_final.update(events_dir=str(events_dir), graph_dir=None if graph_parts is None else str(graph_parts),
                          window=options.graph_window, n_catalogue=n_catalogue,
                          n_items=len(item_ids) + 1)
        shared = sc.broadcast({**plan_final, "item_index": item_index})
        final = sessioned.filter("drop = 0").select("rank", "code", "timestamp", "row", "bucket", "buser",
                                                    "bsess", "position")
        summaries = final.groupBy("bucket").applyInPandas(
            lambda pdf: buckets.finalize_bucket(pdf, shared.value), "bucket int, summary string").collect()
        seen = [r["bucket"] for r in summaries]
        if len(seen) != len(set(seen)):
            raise AssertionError("a bucket was finalized twice; its part file may be incomplete")
        summaries = [json.loads(r["summary"]) for r in summaries]
        present_ranks = np.sort(np.concatenate([np.asarray(s.pop("ranks"), np.int64) for s in summaries]))
        user_ids = user_names[by_id][present_ranks].astype(str)
        merged = stats.merge_summaries(summaries)
        sessioned.unpersist()
        if two_stages:
            deduped.unpersist()

        lap("finalize")
        if graph_parts is not None:
            _write_graph(spark, graph_parts, tmp, options.graph_window, len(item_ids) + 1)
        shutil.rmtree(staging)
        lap("graph")

        part_files = sorted(events_dir.glob("part-*.parquet"))
        config_fp = fingerprint_chunks(
            lambda column: (pq.read_table(p, columns=[column]).column(column).to_numpy() for p in part_files),
            config, item_ids, user_ids)
        warnings = list(plan.warnings)
        if loaded["empty_files"]:
            warnings.append(empty_files_warning(loaded["empty_files"], len(plan.files)))
        source = {"path": plan.source, "format": plan.format, "n_rows_read": int(loaded["n_rows"]),
                  "warnings": warnings}
        result = stats.stats_from_summary(
            merged, n_users=len(user_ids), n_items=len(item_ids), n_catalogue=n_catalogue,
            protocol=config.protocol, n_rows_read=loaded["n_rows"], dropped=dropped, cuts=cuts,
            input_time_sorted=loaded["input_time_sorted"], warnings=warnings,
            seconds=time.perf_counter() - started)
        result["empty_files"] = list(loaded["empty_files"])
        result["fingerprint"] = config_fp
        lap("fingerprint")
        vocabulary.write_vocabulary(
            tmp / "items.parquet", item_ids,
            {"train_count": train_counts[order_items],
             "in_catalogue": np.arange(1, len(item_ids) + 1) <= n_catalogue})
        vocabulary.write_vocabulary(tmp / "users.parquet", user_ids)
        atomic.write_json(tmp / "stats.json", result)
        atomic.write_json(tmp / "config.json", config_record(config, source, n_catalogue, config_fp,
                                                                files=integrity.file_records(tmp)))
    return result


_SQL = {"int64": "bigint", "int32": "int", "int16": "smallint", "int8": "tinyint", "float64": "double"}


def _write_graph(spark, parts, tmp, window, n_items):
    """Sum the buckets' co-interaction counts into `cointeraction/` (+ `cointeraction.json`)."""
    from pyspark.sql import functions as F

    if any(parts.glob("part-*.parquet")):
        edges = spark.read.parquet(str(parts)).groupBy("src", "dst").agg(F.sum("weight").alias("weight"))
        edges.write.parquet(str(tmp / GRAPH_DIR))
    else:  # no training events at all: an empty edge list, not a missing folder
        import pyarrow as pa

        (tmp / GRAPH_DIR).mkdir()
        pq.write_table(pa.table({"src": pa.array([], pa.int32()), "dst": pa.array([], pa.int32()),
                                 "weight": pa.array([], pa.float64())}), tmp / GRAPH_DIR / "part-0.parquet")
    atomic.write_json(tmp / GRAPH_META, {"window": window, "n_items": n_items, "split": "train",
                                         "columns": ["src", "dst", "weight"]})
    shutil.rmtree(parts)
