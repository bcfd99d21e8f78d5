"""Benchmark `prepare` on Spark against the pandas engine, on the same synthetic log.

Generates a synthetic log of about `--events` events (default 10M; not timed) and saves it as
`--files` CSV files in one folder, so that Spark reads them in parallel (one task per file; the
pandas loader reads the same folder in the same order). Then, side by side in this process:

1. pandas: load → prepare → write (the path `bench_prepare.py` measures);
2. Spark (`local[--cores]`): session start, then `prepare_spark` (load → ... → part files),
   with the seconds of each phase;
3. the same two on a small log (`--small-events`, default 10,000): the fixed overhead a user
   pays for Spark at small scale.

Both outputs must have the same fingerprint (the benchmark fails otherwise: it measured the
same work). Reported: events/s of each engine and their ratio, Spark events/s per core, and an
estimate, with its arithmetic, of the cluster that prepares 1.6 billion interactions in one
hour. Wall times on a shared machine vary: the ratio, measured in one run, is the number to
read.

Usage:

    python benchmarks/bench_spark_prepare.py                         # 10M events, local[2]
    python benchmarks/bench_spark_prepare.py --events 1000000 --cores 2 --json out.json
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from _common import emit_json, format_table, machine, synthetic_config, temp_dir  # noqa: E402
from hiertcn_keras.data.loaders import load  # noqa: E402
from hiertcn_keras.data.prepare import PrepareConfig, prepare  # noqa: E402
from hiertcn_keras.data.synthetic import generate  # noqa: E402

TARGET_EVENTS = 1.6e9  # the paper's Pinterest log
TARGET_SECONDS = 3600.0
# Cluster efficiency against local mode: the shuffles cross a network and the slowest task
# sets the pace. 0.5 is a planning margin, not a measurement.
CLUSTER_EFFICIENCY = 0.5


def write_split_csv(folder, n_events, n_files, seed=7):
    """A synthetic log saved as `n_files` CSVs (`log-000.csv`, ...) in source order."""
    folder.mkdir(parents=True, exist_ok=True)
    log = generate(synthetic_config(n_events, seed), with_oracle=False)
    events = log.events
    bounds = np.linspace(0, len(events), n_files + 1).astype(int)
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        events.iloc[a:b].to_csv(folder / f"log-{k:03d}.csv", index=False)
    return len(events)


def run_pandas(folder, out):
    started = time.perf_counter()
    prepared = prepare(load(folder, "generic"), PrepareConfig())
    prepared.write(out)
    return time.perf_counter() - started, prepared.stats


def run_spark(spark, folder, out, events_per_bucket):
    from hiertcn_keras.data.spark.pipeline import SparkOptions, prepare_spark
    from hiertcn_keras.data.spark.sources import plan_source

    timings = {}
    started = time.perf_counter()
    stats = prepare_spark(spark, plan_source(folder, "generic"), PrepareConfig(), out,
                          SparkOptions(events_per_bucket=events_per_bucket), timings=timings)
    return time.perf_counter() - started, stats, timings


def main(argv=None):
    parser = argparse.ArgumentParser(description="Spark vs pandas prepare on one synthetic log.")
    parser.add_argument("--events", type=int, default=10_000_000, help="events (default 10000000)")
    parser.add_argument("--small-events", type=int, default=10_000,
                        help="events of the small log for the fixed overhead (default 10000)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="local[N] (default: all)")
    parser.add_argument("--files", type=int, default=None,
                        help="CSV files the log is split into (default 4 x cores)")
    parser.add_argument("--events-per-bucket", type=int, default=1_000_000,
                        help="Spark bucket size (default 1000000)")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory (default 4g)")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON record to PATH")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    n_files = args.files or 4 * args.cores
    os.environ.setdefault("HIERTCN_SPARK_DRIVER_MEMORY", args.driver_memory)

    from hiertcn_keras.data.spark.session import get_session

    with temp_dir(args.keep, prefix="hiertcn-bench-spark-") as tmp:
        started = time.perf_counter()
        n_big = write_split_csv(tmp / "big", args.events, n_files)
        n_small = write_split_csv(tmp / "small", args.small_events, min(n_files, 2), seed=8)
        print(f"generated {n_big:,} + {n_small:,} events in {time.perf_counter() - started:.1f} s "
              f"(not timed); {n_files} CSV files", flush=True)
        started = time.perf_counter()
        spark = get_session(f"local[{args.cores}]", shuffle_partitions=2 * args.cores)
        spark.sparkContext.setLogLevel("ERROR")
        session_s = time.perf_counter() - started
        # Warm the JVM and the Python workers on the small log first (both engines), then time.
        run_spark(spark, tmp / "small", tmp / "warm", args.events_per_bucket)
        small_pd_s, small_stats = run_pandas(tmp / "small", tmp / "small-pandas")
        small_sp_s, small_sp_stats, _ = run_spark(spark, tmp / "small", tmp / "small-spark",
                                                  args.events_per_bucket)
        pd_s, pd_stats = run_pandas(tmp / "big", tmp / "big-pandas")
        sp_s, sp_stats, phases = run_spark(spark, tmp / "big", tmp / "big-spark", args.events_per_bucket)
        spark.stop()
        for a, b in ((small_stats, small_sp_stats), (pd_stats, sp_stats)):
            if a["fingerprint"] != b["fingerprint"]:
                raise SystemExit("the two engines wrote different datasets; the timings are void")

    n = pd_stats["n_rows_read"]
    pd_rate, sp_rate = n / pd_s, n / sp_s
    per_core = sp_rate / args.cores
    print(f"\nlog: {n:,} rows read, {pd_stats['n_events']:,} events kept; outputs identical "
          f"(fingerprint {pd_stats['fingerprint']})")
    print(format_table(["engine", "wall s", "events/s", "vs pandas"], [
        ["pandas (load + prepare + write)", f"{pd_s:.2f}", f"{pd_rate / 1e6:.3f}M", "1.00x"],
        [f"spark local[{args.cores}] (prepare_spark)", f"{sp_s:.2f}", f"{sp_rate / 1e6:.3f}M",
         f"{sp_rate / pd_rate:.2f}x"],
    ]))
    print("\nspark phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
    print(f"\nfixed cost of Spark at small scale ({small_stats['n_rows_read']:,} events): session start "
          f"{session_s:.1f} s (once per process) + prepare {small_sp_s:.2f} s vs pandas {small_pd_s:.2f} s "
          f"-> {session_s + small_sp_s - small_pd_s:.1f} s extra")
    # Estimate: a fixed cost (the small log's time: job start-up, driver round trips), a
    # sequential driver part growing with events (the fingerprint stream), and the rest,
    # parallel, at the marginal per-core rate measured between the small and the big log.
    small_n = small_stats["n_rows_read"]
    marginal = (n - small_n) / max(sp_s - small_sp_s, 1e-9) / args.cores
    driver_s = phases["fingerprint"] * TARGET_EVENTS / n
    budget = TARGET_SECONDS - small_sp_s - driver_s
    cores = math.ceil(TARGET_EVENTS / (budget * marginal * CLUSTER_EFFICIENCY)) if budget > 0 else None
    print(f"\ncluster estimate for {TARGET_EVENTS:.1e} events in {TARGET_SECONDS:.0f} s:\n"
          f"  marginal rate ({n:,} - {small_n:,} events) / ({sp_s:.1f} - {small_sp_s:.1f} s) / "
          f"{args.cores} cores = {marginal:,.0f} events/s/core\n"
          f"  driver fingerprint stream {phases['fingerprint']:.2f} s x {TARGET_EVENTS / n:,.0f} = "
          f"{driver_s:,.0f} s; fixed {small_sp_s:.0f} s; parallel budget {budget:,.0f} s\n"
          + (f"  cores = {TARGET_EVENTS:.1e} / ({budget:,.0f} s x {marginal:,.0f} x {CLUSTER_EFFICIENCY} "
             f"efficiency) = {cores:,} (= {math.ceil(cores / 16):,} executors of 16 cores)"
             if cores else "  the driver alone needs more than the hour"))
    record = {
        "benchmark": "spark_prepare", "n_rows": n, "n_events": pd_stats["n_events"],
        "pandas_s": pd_s, "spark_s": sp_s, "pandas_events_per_s": pd_rate, "spark_events_per_s": sp_rate,
        "spark_vs_pandas": sp_rate / pd_rate, "spark_cores": args.cores, "spark_events_per_s_per_core": per_core,
        "spark_phases_s": phases, "session_start_s": session_s, "small_events": small_stats["n_rows_read"],
        "small_pandas_s": small_pd_s, "small_spark_s": small_sp_s, "files": n_files,
        "events_per_bucket": args.events_per_bucket, "estimate_cores_for_1p6B_in_1h": cores,
        "marginal_events_per_s_per_core": marginal, "driver_fingerprint_s_at_1p6B": driver_s,
        "cluster_efficiency_assumed": CLUSTER_EFFICIENCY, "machine": machine(),
        "pandas_version": pd.__version__,
    }
    emit_json(record, args.json)


if __name__ == "__main__":
    main()
