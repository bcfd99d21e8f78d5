"""Benchmark `hiertcn prepare` end to end: load (generic CSV) → prepare → write, on a big log.

Generates a synthetic log of about `--events` events (default 10M) and saves it as CSV in a
temporary folder (not timed). Then a *fresh Python subprocess* times the three stages, so that
its peak resident set size (`getrusage(RUSAGE_SELF).ru_maxrss`) counts the pipeline only, not
the generator's arrays; the parent samples the subprocess's RSS every 5 ms to attribute memory
to stages, so nothing extra runs inside the measured process.

Reported: seconds and share of each stage, events/s end to end (target ≥ 1M/s), peak RSS
(target < 4 GB), and, measured side by side in the same subprocess on the same (page-cached)
file, the generic loader against a bare `pyarrow.csv.read_csv` of the file.

Usage:

    python benchmarks/bench_prepare.py                      # 10M events
    python benchmarks/bench_prepare.py --events 1000000 --json runs/bench/prepare.json
    python benchmarks/bench_prepare.py --events 1000000 --profile 25   # cProfile hot spots
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
import pyarrow.csv as pv  # noqa: E402

from _common import (  # noqa: E402
    GB, MB, RssSampler, emit_json, format_table, machine, peak_rss_bytes, rss_bytes, temp_dir,
    write_synthetic_csv,
)
from hiertcn_keras.data.loaders import load  # noqa: E402
from hiertcn_keras.data.prepare import PrepareConfig, prepare  # noqa: E402

TARGET_EVENTS_PER_S = 1e6
TARGET_PEAK_BYTES = 4 * GB
STAGES = ("load", "prepare", "write")
CSV_COLUMNS = ("user_id", "item_id", "timestamp")


def run_stages(csv_path, out_dir, profile=0):
    """The measured pipeline (runs in the subprocess). Returns a dict of measurements.

    Stage boundaries are `perf_counter` values so that the parent, which samples this
    process's RSS, can attribute its samples to stages.
    """
    rss_imported = rss_bytes()
    profiler = cProfile.Profile() if profile else None
    bounds, cpu, rss_after = {}, {}, {}
    state = {}
    steps = {
        "load": lambda: state.update(log=load(csv_path, "generic")),
        "prepare": lambda: state.update(prepared=prepare(state["log"], PrepareConfig())),
        "write": lambda: state["prepared"].write(out_dir),
    }
    if profiler:
        profiler.enable()
    for stage in STAGES:
        started, cpu_started = time.perf_counter(), time.process_time()
        steps[stage]()
        cpu[stage] = time.process_time() - cpu_started
        bounds[stage] = (started, time.perf_counter())
        rss_after[stage] = rss_bytes()
    if profiler:
        profiler.disable()
    peak = peak_rss_bytes()
    n_rows, n_events = int(state["log"].n_rows), int(len(state["prepared"].item))
    state.clear()

    # Side by side on the same page-cached file: a bare Arrow read, ids as text like the
    # loader reads them, and with inferred (int64) types.
    text = pv.ConvertOptions(column_types={c: pa.string() for c in CSV_COLUMNS})
    started = time.perf_counter()
    pv.read_csv(csv_path, convert_options=text)
    bare_text_s = time.perf_counter() - started
    started = time.perf_counter()
    pv.read_csv(csv_path)
    bare_int_s = time.perf_counter() - started

    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)
    return {
        "n_rows": n_rows, "n_events": n_events, "bounds": bounds, "cpu_s": cpu,
        "rss_after_bytes": rss_after, "rss_after_imports_bytes": rss_imported,
        "peak_rss_bytes": peak, "bare_arrow_text_s": bare_text_s, "bare_arrow_int_s": bare_int_s,
        "out_bytes": sum(p.stat().st_size for p in Path(out_dir).iterdir()),
    }


def run_child(csv_path, out_dir, profile):
    """Run `run_stages` in a fresh interpreter, sampling its RSS from here.

    The subprocess's `ru_maxrss` then covers the pipeline alone (plus the interpreter and
    imports, reported separately), not the generator that made the CSV.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(csv_path),
               str(out_dir), "--profile", str(profile)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with RssSampler(proc.pid) as rss:
        out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the measured subprocess failed (exit code {proc.returncode})")
    res = json.loads(out.strip().splitlines()[-1])
    res["seconds"] = {stage: end - start for stage, (start, end) in res["bounds"].items()}
    res["sampled_peak_bytes"] = {stage: rss.peak(start, end)
                                 for stage, (start, end) in res["bounds"].items()}
    return res


def report(gen, res, profile):
    """Print the tables; return the JSON record."""
    n = res["n_rows"]
    wall, cpu = res["seconds"], res["cpu_s"]
    total, total_cpu = sum(wall.values()), sum(cpu.values())
    rows = []
    for stage in STAGES:
        rows.append([stage, f"{wall[stage]:.2f}", f"{cpu[stage]:.2f}",
                     f"{100 * wall[stage] / total:.0f}%", f"{n / wall[stage] / 1e6:.2f}M",
                     f"{res['rss_after_bytes'][stage] / MB:,.0f}",
                     f"{res['sampled_peak_bytes'][stage] / MB:,.0f}"])
    rows.append(["end to end", f"{total:.2f}", f"{total_cpu:.2f}", "100%",
                 f"{n / total / 1e6:.2f}M", "", f"{res['peak_rss_bytes'] / MB:,.0f} (ru_maxrss)"])
    source = (f"{gen['n_users']:,} synthetic users; generate {gen['generate_s']:.1f} s + save "
              f"{gen['save_s']:.1f} s, not timed" if "n_users" in gen else "given CSV")
    print(f"log: {n:,} rows read ({source}), {res['n_events']:,} events kept; CSV "
          f"{gen['csv_bytes'] / MB:,.0f} MB, prepared folder {res['out_bytes'] / MB:,.0f} MB")
    print(format_table(["stage", "wall s", "CPU s", "share", "events/s", "RSS after (MB)",
                        "peak (MB)"], rows))
    rate = n / total
    peak = res["peak_rss_bytes"]
    print(f"\nend to end {rate / 1e6:.2f}M events/s = {rate / TARGET_EVENTS_PER_S:.2f}x the "
          f"1M events/s target ({'met' if rate >= TARGET_EVENTS_PER_S else 'MISSED'}); "
          f"CPU/wall = {total_cpu / total:.2f}"
          + (" (below 1: the process waited for a CPU or I/O)" if total_cpu < total else ""))
    print(f"peak RSS {peak / GB:.2f} GB = {peak / TARGET_PEAK_BYTES:.2f}x the 4 GB budget "
          f"({'met' if peak < TARGET_PEAK_BYTES else 'MISSED'}); "
          f"{res['rss_after_imports_bytes'] / MB:,.0f} MB of it is the interpreter and imports")
    print("memory: the stages run in a fresh subprocess that only loads, prepares and writes, "
          "so the generator's memory does not count; its end-to-end peak is the kernel's "
          "ru_maxrss, the per-stage peaks come from sampling its RSS every 5 ms from the parent "
          "(lower bounds).")
    load_s = wall["load"]
    print("\nside by side, same file, same process:")
    print(format_table(["read", "wall s", "vs generic loader"], [
        ["generic loader (ids as text, checks, pandas frame)", f"{load_s:.2f}", "1.00x"],
        ["bare pyarrow.csv.read_csv, every column as text", f"{res['bare_arrow_text_s']:.2f}",
         f"{res['bare_arrow_text_s'] / load_s:.2f}x"],
        ["bare pyarrow.csv.read_csv, inferred int64", f"{res['bare_arrow_int_s']:.2f}",
         f"{res['bare_arrow_int_s'] / load_s:.2f}x"],
    ]))
    if profile:
        print("\n(--profile: timings include cProfile's overhead; the profile went to stderr)")
    record = {
        "benchmark": "prepare", "n_rows": n, "n_events": res["n_events"],
        "seconds": wall, "cpu_s": cpu, "total_s": total, "total_cpu_s": total_cpu,
        "events_per_s": rate, "peak_rss_bytes": peak,
        "rss_after_imports_bytes": res["rss_after_imports_bytes"],
        "sampled_peak_bytes": res["sampled_peak_bytes"], "rss_after_bytes": res["rss_after_bytes"],
        "bare_arrow_text_s": res["bare_arrow_text_s"], "bare_arrow_int_s": res["bare_arrow_int_s"],
        "csv_bytes": gen["csv_bytes"], "prepared_bytes": res["out_bytes"],
        "target_events_per_s": TARGET_EVENTS_PER_S, "target_peak_bytes": TARGET_PEAK_BYTES,
        "meets_speed": rate >= TARGET_EVENTS_PER_S, "meets_memory": peak < TARGET_PEAK_BYTES,
        "profiled": bool(profile), "machine": machine(),
    }
    if "n_users" in gen:
        record.update(n_users=gen["n_users"], generate_s=gen["generate_s"], save_s=gen["save_s"])
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Time load → prepare → write on a synthetic CSV log; report events/s and "
                    "peak memory (measured in a fresh subprocess).",
        epilog="example: python benchmarks/bench_prepare.py --events 1000000 --json out.json")
    parser.add_argument("--events", type=int, default=10_000_000,
                        help="approximate number of events to generate (default: 10000000)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default: 7)")
    parser.add_argument("--csv", metavar="PATH",
                        help="time this generic CSV log (user_id,item_id,timestamp) instead of "
                             "generating one; --events and --seed are then ignored")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (CSV and prepared dataset); its path "
                             "is printed to stderr")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON record to PATH")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="run the stages under cProfile and print the top N functions to "
                             "stderr (timings then include the profiler's overhead)")
    parser.add_argument("--child", nargs=2, metavar=("CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_stages(Path(args.child[0]), Path(args.child[1]), args.profile)))
        return
    with temp_dir(args.keep) as tmp:
        if args.csv:
            gen = {"path": Path(args.csv).resolve()}
        else:
            gen = write_synthetic_csv(tmp, args.events, args.seed)
        gen["csv_bytes"] = gen["path"].stat().st_size
        res = run_child(gen["path"], tmp / "prepared", args.profile)
        record = report(gen, res, args.profile)
    emit_json(record, args.json)


if __name__ == "__main__":
    main()
