"""Benchmark the queue batcher: throughput, and data memory of hierarchical vs flat batches.

On a prepared synthetic dataset (generated and prepared in a temporary folder, not timed;
about `--events` events, default 1M) this measures, in one run, on the training view:

(a) Throughput, events/s over one training epoch (every batch of `batches(epoch)`), for
    - `QueueBatcher(SessionTable, B, S)` (hierarchical, NumPy batches),
    - the same through the tf.data pipeline (`make_dataset`),
    - `QueueBatcher(FlatTable T, B, 1)` (flat view), NumPy and tf.data.
    The four are timed round-robin, `--repeats` times each, and the best epoch of each is
    reported, so a busy machine slows all four alike; ratios are printed side by side.
(b) Data memory, bytes the batches hold per real (non-padding) event:
    - hierarchical batches `[B, S, L]` (all the tensors `gather` returns);
    - a flat model's batches: the same users, in the same shuffled order, B at a time, each
      row padded to the longest history in its group (capped at T), with the flat view's
      tensors (`FlatTable.gather`), and the flat pipeline as built (fixed `[B, T]` rows);
    - the per-row footprint one step needs: HierTCN holds S·L item ids plus a state of H
      floats, a flat TCN holds T item ids.

Usage:

    python benchmarks/bench_batcher.py                   # ~1M events
    python benchmarks/bench_batcher.py --events 200000 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))


from _common import emit_json, format_table, machine, prepare_synthetic, temp_dir  # noqa: E402
from hiertcn_keras.data.batcher import QueueBatcher  # noqa: E402
from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.data.pipeline import make_dataset  # noqa: E402
from hiertcn_keras.data.tensors import FlatTable, SessionTable  # noqa: E402
from hiertcn_keras.training.experiments.speed import memory_report  # noqa: E402


def time_epochs(runners, repeats):
    """Time each runner `repeats` times, round-robin; return name → list of seconds."""
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def numpy_epochs(batcher):
    """A runner that iterates the next epoch of NumPy batches."""
    epoch = iter(range(10**9))

    def run():
        for _ in batcher.batches(next(epoch)):
            pass

    return run


def tf_epochs(batcher):
    """A runner that iterates the next epoch of the tf.data pipeline (one pass = one epoch)."""
    dataset = make_dataset(batcher)

    def run():
        for _ in dataset:
            pass

    return run


def less(ratio):
    return f"{100 * (1 - ratio):.0f}% less" if ratio <= 1 else f"{100 * (ratio - 1):.0f}% more"


def print_memory(m, args):
    B, S, T, H = args.batch_size, args.slots, args.flat_len, args.hidden
    L = m["max_session_len"]
    e = m["bytes_per_event"]
    print(f"\n(b) data memory on the train view: {m['n_events']:,} events, {m['n_users']:,} users "
          f"(history mean {m['history_mean']:.1f}, max {m['history_max']} events; "
          f"{m['users_over_flat_cap']} users over T={T})")
    print(format_table(
        ["batches", "count", "bytes/batch", "filled", "bytes/event", "ids bytes/event"], [
            [f"hierarchical [B={B}, S={S}, L={L}] (queue batcher)", m["hier_batches"],
             f"{m['hier_batch_bytes']:,}", f"{100 * m['hier_slot_fill']:.1f}%",
             f"{e['hier']:.1f}", f"{e['hier_ids']:.1f}"],
            [f"flat, B users padded to the longest (cap {T})", m["flat_groups"],
             f"{m['flat_batch_bytes_mean']:,.0f} (max {m['flat_batch_bytes_max']:,})",
             f"{100 * m['flat_fill']:.1f}%", f"{e['flat_padded']:.1f}",
             f"{e['flat_padded_ids']:.1f}"],
            [f"flat pipeline as built [B={B}, T={T}]", m["flat_built_batches"],
             f"{m['flat_built_batch_bytes']:,}", f"{100 * m['flat_built_fill']:.1f}%",
             f"{e['flat_built']:.1f}", ""],
        ]))
    print(f"hierarchical / flat padded, all tensors: {m['ratio_hier_over_flat']:.3f} "
          f"({less(m['ratio_hier_over_flat'])} data memory); item ids only: "
          f"{m['ratio_ids_hier_over_flat']:.3f} ({less(m['ratio_ids_hier_over_flat'])}); "
          f"vs the flat pipeline as built: {m['ratio_hier_over_flat_built']:.3f} "
          f"({less(m['ratio_hier_over_flat_built'])})")
    r = m["row_bytes"]
    print(f"\nper-row footprint of one step (int32 ids, float32 state H={H}):")
    print(format_table(["what one row holds", "bytes", "vs flat TCN (T ids)"], [
        [f"flat TCN: T={T} item ids", f"{r['flat_step']:,}", "1.000"],
        [f"HierTCN training step: S·L = {S}·{L} ids + H floats", f"{r['hier_step']:,}",
         f"{r['hier_step'] / r['flat_step']:.3f} ({less(r['hier_step'] / r['flat_step'])})"],
        ["HierTCN serving: current session (L ids) + H floats", f"{r['hier_serving']:,}",
         f"{r['hier_serving'] / r['flat_step']:.3f} ({less(r['hier_serving'] / r['flat_step'])})"],
        ["measured mean per event, flat: history so far (≤ T ids)", f"{r['flat_measured']:,.0f}",
         f"{r['flat_measured'] / r['flat_step']:.3f}"],
        ["measured mean per event, HierTCN: session so far + H floats",
         f"{r['hier_measured']:,.0f}",
         f"{r['hier_measured'] / r['flat_step']:.3f} (vs measured flat: "
         f"{r['hier_measured'] / r['flat_measured']:.2f})"],
    ]))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Queue-batcher throughput (NumPy and tf.data, hierarchical and flat) and "
                    "data memory of hierarchical vs flat batches, on a synthetic dataset.",
        epilog="example: python benchmarks/bench_batcher.py --events 200000 --repeats 3")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="approximate number of events to generate (default: 1000000)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default: 7)")
    parser.add_argument("--batch-size", type=int, default=32, help="B (default: 32)")
    parser.add_argument("--slots", type=int, default=10, help="S, session slots (default: 10)")
    parser.add_argument("--flat-len", type=int, default=500,
                        help="T, the flat history cap and chunk length (default: 500)")
    parser.add_argument("--hidden", type=int, default=256,
                        help="H, HierTCN's state size for the footprint (default: 256)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="epochs timed per configuration; the best is reported (default: 5)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder; its path is printed to stderr")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON record to PATH")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be ≥ 1, got {args.repeats}")

    with temp_dir(args.keep) as tmp:
        info = prepare_synthetic(tmp, args.events, args.seed)
        data = PreparedDataset(info["prepared"])
        view = data.view("train")
        started = time.perf_counter()
        sessions = SessionTable.from_view(view, data.max_session_len)
        session_table_s = time.perf_counter() - started
        started = time.perf_counter()
        chunks = FlatTable.from_view(view, args.flat_len)
        flat_table_s = time.perf_counter() - started

    hier = QueueBatcher(sessions, args.batch_size, args.slots, shuffle=True)
    flat = QueueBatcher(chunks, args.batch_size, 1, shuffle=True)
    runners = {"hierarchical, NumPy": numpy_epochs(hier), "hierarchical, tf.data": tf_epochs(hier),
               "flat, NumPy": numpy_epochs(flat), "flat, tf.data": tf_epochs(flat)}
    times = time_epochs(runners, args.repeats)
    n = len(view)
    best = {name: min(t) for name, t in times.items()}
    base = best["hierarchical, NumPy"]
    shapes = {"hierarchical": f"[{args.batch_size}, {args.slots}, {sessions.max_len}]",
              "flat": f"[{args.batch_size}, {args.flat_len}]"}
    n_batches = {"hierarchical": hier.n_batches(0), "flat": flat.n_batches(0)}

    print(f"dataset: {info['n_events']:,} events generated ({info['n_users']:,} users), train "
          f"view {n:,} events; tables built in {session_table_s:.2f} s (SessionTable) and "
          f"{flat_table_s:.2f} s (FlatTable T={args.flat_len})")
    print(f"\n(a) one training epoch, best of {args.repeats} (timed round-robin):")
    rows = []
    for name, seconds in best.items():
        kind = name.split(",")[0]
        rows.append([name, shapes[kind], n_batches[kind], f"{seconds:.3f}",
                     f"{n / seconds / 1e6:.2f}M", f"{n_batches[kind] / seconds:,.0f}",
                     f"{base / seconds:.2f}x"])
    print(format_table(["batcher", "batch", "batches", "s/epoch", "events/s", "batches/s",
                        "vs hier NumPy"], rows))
    print(f"tf.data / NumPy: hierarchical {base / best['hierarchical, tf.data']:.2f}x, flat "
          f"{best['flat, NumPy'] / best['flat, tf.data']:.2f}x the events/s")

    memory = memory_report(view, hier, flat, args)
    print_memory(memory, args)
    emit_json({
        "benchmark": "batcher", "n_events_generated": info["n_events"],
        "n_users": info["n_users"], "train_events": n, "batch_size": args.batch_size,
        "slots": args.slots, "max_session_len": sessions.max_len, "flat_len": args.flat_len,
        "hidden": args.hidden, "repeats": args.repeats,
        "session_table_s": session_table_s, "flat_table_s": flat_table_s,
        "n_batches": n_batches, "epoch_s": times,
        "events_per_s": {name: n / s for name, s in best.items()},
        "memory": memory, "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
