"""Benchmark what the integrity checks cost on load: a prepared dataset and an embedding store.

In one run, on data generated in a temporary folder (not timed):

(a) `PreparedDataset(path)` with its per-file sha256 check, against the same load with the
    check skipped (a copy without the per-file record in `config.json`, its fingerprint
    recomputation switched off), and against a previous release's
    folder checked by its recomputed fingerprint. Default: the default dataset of the README
    (`hiertcn synth --users 2000 --items 1000 --seed 7`, then `hiertcn prepare`).
(b) `EmbeddingStore.open` with `verify="finite"` (the default: one streaming pass over the
    matrix), `"size"` (O(1)) and `"full"` (sha256), on an `--items` × `--dim` float32 store,
    with the file in the page cache.

Each variant is timed `--repeats` times round-robin and the best is reported, with its ratio to
the unchecked variant.

Usage:

    python benchmarks/bench_integrity.py
    python benchmarks/bench_integrity.py --users 20000 --items 200000 --dim 128 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402
from hiertcn_keras.data import dataset as dataset_module  # noqa: E402
from hiertcn_keras.data import synthetic, synthetic_io  # noqa: E402
from hiertcn_keras.artifacts.embedding_store import EmbeddingStore, write_store  # noqa: E402
from hiertcn_keras.data.loaders import load  # noqa: E402
from hiertcn_keras.data.prepare import prepare  # noqa: E402


def best_of(functions, repeats):
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--items", type=int, default=1000, help="synthetic catalogue, and the store's rows x 100")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    with temp_dir() as tmp:
        config = synthetic.SyntheticConfig(n_users=args.users, n_items=args.items, seed=7)
        synthetic_io.save(synthetic.generate(config, with_oracle=False), tmp / "log.csv")
        prepared = tmp / "prepared"
        prepare(load(tmp / "log.csv", "generic")).write(prepared)
        legacy = tmp / "legacy"
        shutil.copytree(prepared, legacy)
        record = json.loads((legacy / "config.json").read_text())
        del record["files"]
        (legacy / "config.json").write_text(json.dumps(record))
        sizes = sum(p.stat().st_size for p in prepared.iterdir() if p.is_file())

        original = dataset_module.PreparedDataset._verify_fingerprint

        def unchecked():
            dataset_module.PreparedDataset._verify_fingerprint = lambda self: "none"
            try:
                dataset_module.PreparedDataset(legacy)
            finally:
                dataset_module.PreparedDataset._verify_fingerprint = original

        load_times = best_of({
            "no check": unchecked,
            "per-file sha256 (default)": lambda: dataset_module.PreparedDataset(prepared),
            "recomputed fingerprint (old folders)": lambda: dataset_module.PreparedDataset(legacy),
        }, args.repeats)
        n_events = len(dataset_module.PreparedDataset(prepared).events["item"])

        rows = args.items * 100
        matrix = np.random.default_rng(0).normal(size=(rows, args.dim)).astype(np.float32)
        store = write_store(tmp / "store", matrix, [None] + [f"i{k}" for k in range(rows - 1)])
        del matrix
        store_times = best_of({mode: (lambda mode=mode: EmbeddingStore.open(store, verify=mode).close())
                               for mode in ("size", "finite", "full")}, args.repeats)

    base = load_times["no check"]
    table = [[name, f"{seconds * 1000:.1f}", f"{seconds / base:.2f}"] for name, seconds in load_times.items()]
    print(f"PreparedDataset load, {n_events:,} events, {sizes / 2**20:.1f} MiB of files:")
    print(format_table(["check", "ms (best)", "vs no check"], table))
    mib = rows * args.dim * 4 / 2**20
    table = [[mode, f"{seconds * 1000:.1f}", f"{mib / seconds:,.0f}" if mode != "size" else "-",
              f"{seconds / store_times['size']:.1f}"] for mode, seconds in store_times.items()]
    print(f"\nEmbeddingStore.open, {rows:,} x {args.dim} float32 ({mib:.0f} MiB, page cache warm):")
    print(format_table(["verify", "ms (best)", "MiB/s", "vs size"], table))
    emit_json({"machine": machine(), "events": n_events, "dataset_bytes": sizes, "load_s": load_times,
               "store_rows": rows, "store_dim": args.dim, "store_open_s": store_times}, args.json)


if __name__ == "__main__":
    main()
