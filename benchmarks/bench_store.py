"""Benchmark the item embedding store: O(1) open vs `np.load`, and random row gathers.

Writes a random `--items` × `--dim` float32 matrix (default 1M × 128 = 512 MB) both as an
embedding store and as a `.npy` file in a temporary folder (not timed), then measures side by
side in one process, each the median of `--repeats` runs with the files in the page cache:

- open: `EmbeddingStore.open(verify="size")` (maps, reads nothing) against `np.load` (reads the
  whole matrix into memory), plus `verify="full"` (sha256 of the file) and
  `np.load(mmap_mode="r")` for reference;
- gather: 10k random rows as float32 from the store's mapping (pages already mapped, and first
  after a fresh open, when each row costs a page fault) against fancy indexing of the
  in-memory array.

Usage:

    python benchmarks/bench_store.py
    python benchmarks/bench_store.py --items 100000 --dim 64 --json runs/bench/store.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402
from hiertcn_keras.artifacts import EmbeddingStore, write_store  # noqa: E402


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        del result
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--gather", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the JSON record here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    matrix = rng.standard_normal((args.items, args.dim), dtype=np.float32)
    ids = [None] + list(range(1, args.items))
    with temp_dir(args.keep, prefix="hiertcn-bench-store-") as tmp:
        started = time.perf_counter()
        store_path = write_store(tmp / "store", matrix, ids)
        write_s = time.perf_counter() - started
        npy_path = tmp / "matrix.npy"
        np.save(npy_path, matrix)
        del matrix
        rows = rng.integers(0, args.items, size=args.gather)

        open_s = median_seconds(lambda: EmbeddingStore.open(store_path), args.repeats)
        full_s = median_seconds(lambda: EmbeddingStore.open(store_path, verify="full"),
                                args.repeats)
        npy_mmap_s = median_seconds(lambda: np.load(npy_path, mmap_mode="r"), args.repeats)
        npy_load_s = median_seconds(lambda: np.load(npy_path), args.repeats)

        store = EmbeddingStore.open(store_path)
        in_memory = np.load(npy_path)
        assert np.array_equal(store.vectors(rows), in_memory[rows])
        gather_store_s = median_seconds(lambda: store.vectors(rows), args.repeats)
        gather_memory_s = median_seconds(lambda: in_memory[rows], args.repeats)

        def first_gather():
            # A fresh mapping: every row costs a page fault (served from the page cache).
            with EmbeddingStore.open(store_path) as fresh:
                fresh_rows = rng.integers(0, args.items, size=args.gather)
                started = time.perf_counter()
                fresh.vectors(fresh_rows)
                return time.perf_counter() - started

        gather_first_s = statistics.median(first_gather() for _ in range(args.repeats))
        index_s = median_seconds(lambda: store.index_of(rows + 1 if args.items > 1 else rows,
                                                        missing="ignore"), 1)  # builds index
        index_warm_s = median_seconds(lambda: store.index_of(rows, missing="ignore"),
                                      args.repeats)
        store.close()

    nbytes = args.items * args.dim * 4
    record = {
        "benchmark": "store", "items": args.items, "dim": args.dim, "bytes": nbytes,
        "gather_rows": args.gather, "repeats": args.repeats, "write_s": write_s,
        "open_s": open_s, "open_full_verify_s": full_s, "npy_load_s": npy_load_s,
        "npy_mmap_s": npy_mmap_s, "open_speedup_vs_np_load": npy_load_s / open_s,
        "gather_store_s": gather_store_s, "gather_in_memory_s": gather_memory_s,
        "gather_ratio_store_vs_memory": gather_store_s / gather_memory_s,
        "gather_first_after_open_s": gather_first_s,
        "index_of_first_s": index_s, "index_of_warm_s": index_warm_s, "machine": machine(),
    }

    def ms(s):
        return f"{s * 1e3:,.3f}"

    print(f"{args.items:,} × {args.dim} float32 = {nbytes / 1e6:,.0f} MB, page cache warm, "
          f"median of {args.repeats}; write_store took {write_s:.2f} s")
    print(format_table(["operation", "ms", "speedup vs np.load"], [
        ["EmbeddingStore.open(verify='size')", ms(open_s), f"{npy_load_s / open_s:,.1f}x"],
        ["EmbeddingStore.open(verify='full')", ms(full_s), f"{npy_load_s / full_s:.2f}x"],
        ["np.load(mmap_mode='r')", ms(npy_mmap_s), f"{npy_load_s / npy_mmap_s:,.1f}x"],
        ["np.load (full read)", ms(npy_load_s), "1"],
    ]))
    print()
    print(format_table(["operation", "ms", "vs in-memory"], [
        [f"store.vectors({args.gather:,} random rows)", ms(gather_store_s),
         f"{gather_store_s / gather_memory_s:.2f}"],
        [f"store.vectors({args.gather:,} rows), first after open", ms(gather_first_s),
         f"{gather_first_s / gather_memory_s:.2f}"],
        [f"in-memory array[{args.gather:,} random rows]", ms(gather_memory_s), "1"],
        [f"store.index_of({args.gather:,} ids), first (builds index)", ms(index_s), ""],
        [f"store.index_of({args.gather:,} ids), warm", ms(index_warm_s), ""],
    ]))
    emit_json(record, args.json)


if __name__ == "__main__":
    main()
