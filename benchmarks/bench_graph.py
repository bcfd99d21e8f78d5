"""Benchmark the item graph: co-interaction graph build and PinSage neighbourhoods.

A synthetic training log is generated directly in NumPy (not the project's generator, which
models users in detail and is slower than what is measured here): `--users` users with
Geometric(1/8) sessions of Geometric(1/6) clicks (capped at 30 and 20), items drawn from
`--items` items with a heavy-tailed (Zipf, `p(rank r) ∝ r^-a`, `--zipf` a) popularity, so
the graph has a few hub items with huge degrees and a long tail of rare ones — the shape of a
real co-interaction graph, which a uniform random sparse matrix would not have. The defaults
(45k users, 100k items, ~2.1M events) give a graph of ~10M undirected edges with `window=5`.

Measured, in one process (the log generation is not timed):

- build: `cointeraction_graph(view, n_items, window)` (seconds);
- neighbourhoods: `importance_neighbourhoods(graph, n_walks, walk_length, restart, top_t)`
  from every item (seconds, walks/s);
- memory: RSS before the build (the Python + NumPy + Keras baseline: `cointeraction_graph`
  reuses `models.item_vectors`, whose package imports Keras) and the kernel's peak RSS
  (`ru_maxrss`) after each stage, so each stage's growth over the baseline is visible.

Usage:

    python benchmarks/bench_graph.py                          # 100k items, ~10M edges
    python benchmarks/bench_graph.py --users 20000 --items 20000 --json graph.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import MB, emit_json, format_table, machine, peak_rss_bytes, rss_bytes  # noqa: E402
from hiertcn_keras.data.dataset import EventView  # noqa: E402
from hiertcn_keras.graph import cointeraction_graph, graph_stats, importance_neighbourhoods  # noqa: E402


def capped_geometric(rng, mean, cap, size):
    return np.minimum(rng.geometric(1.0 / mean, size), cap)


def synthetic_view(n_users, n_items, zipf, seed):
    """A training `EventView` of random sessions over heavy-tailed item popularity."""
    rng = np.random.default_rng(seed)
    sessions_per_user = capped_geometric(rng, 8, 30, n_users)
    n_sessions = int(sessions_per_user.sum())
    session_len = capped_geometric(rng, 6, 20, n_sessions)
    n = int(session_len.sum())
    session = np.repeat(np.arange(n_sessions), session_len)
    user = np.repeat(np.repeat(np.arange(n_users), sessions_per_user), session_len)
    popularity = np.arange(1, n_items, dtype=np.float64) ** -zipf
    cdf = np.cumsum(popularity / popularity.sum())
    # Shuffle ranks onto item ids so hubs are spread over the index range, as in real data.
    item = rng.permutation(np.arange(1, n_items))[np.minimum(np.searchsorted(cdf, rng.random(n)),
                                                             n_items - 2)]
    first = np.repeat(np.cumsum(session_len) - session_len, session_len)
    return EventView(user=user.astype(np.int32), item=item.astype(np.int32),
                     timestamp=np.arange(n, dtype=np.int64), session=session.astype(np.int32),
                     position=(np.arange(n) - first).astype(np.int32),
                     score=np.ones(n, dtype=bool), split="train")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=45_000, help="users (default 45000)")
    parser.add_argument("--items", type=int, default=100_000, help="n_items incl. 0 (default 100000)")
    parser.add_argument("--zipf", type=float, default=0.8, help="popularity exponent (default 0.8)")
    parser.add_argument("--window", type=int, default=5, help="co-interaction window (default 5)")
    parser.add_argument("--walks", type=int, default=50, help="walks per item (default 50)")
    parser.add_argument("--walk-length", type=int, default=3, help="steps per walk (default 3)")
    parser.add_argument("--restart", type=float, default=0.5, help="restart probability (default 0.5)")
    parser.add_argument("--top-t", type=int, default=10, help="T neighbours (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the JSON record to this file")
    args = parser.parse_args(argv)

    view = synthetic_view(args.users, args.items, args.zipf, args.seed)
    # Warm up: the first call imports `models.item_vectors` (and so Keras); not timed.
    cointeraction_graph(synthetic_view(3, 10, args.zipf, 0), 10)
    baseline = rss_bytes()

    started = time.perf_counter()
    graph = cointeraction_graph(view, args.items, window=args.window)
    build_s = time.perf_counter() - started
    peak_build = peak_rss_bytes()
    stats = graph_stats(graph)

    started = time.perf_counter()
    neighbours, weights = importance_neighbourhoods(
        graph, n_walks=args.walks, walk_length=args.walk_length, restart=args.restart,
        top_t=args.top_t, seed=args.seed)
    walk_s = time.perf_counter() - started
    peak_walk = peak_rss_bytes()
    n_walks = stats["nodes_with_edges"] * args.walks
    filled = float((weights > 0).sum(axis=1)[weights.sum(axis=1) > 0].mean())

    print(f"graph: {len(view):,} events → {stats['nodes_with_edges']:,} items with edges, "
          f"{stats['edges']:,} edges (mean degree {stats['mean_degree']:.1f}, max "
          f"{stats['max_degree']:,}), {stats['isolated_items']:,} isolated; "
          f"{graph.data.nbytes + graph.indices.nbytes + graph.indptr.nbytes:,} bytes CSR")
    rows = [
        ["cointeraction_graph", f"{build_s:.2f}", f"{len(view) / build_s / 1e6:.2f}M events/s",
         f"{peak_build / MB:,.0f}", f"{(peak_build - baseline) / MB:,.0f}"],
        ["importance_neighbourhoods", f"{walk_s:.2f}", f"{n_walks / walk_s / 1e6:.2f}M walks/s",
         f"{peak_walk / MB:,.0f}", f"{(peak_walk - baseline) / MB:,.0f}"],
    ]
    print(format_table(["stage", "seconds", "rate", "peak RSS MB", "over baseline MB"], rows))
    print(f"baseline RSS before the build: {baseline / MB:,.0f} MB; neighbourhoods: T={args.top_t}, "
          f"{filled:.2f} filled on average, {args.walks} walks × ≤{args.walk_length} steps, "
          f"restart {args.restart}")
    emit_json({"bench": "graph", "events": len(view), "n_items": args.items, "window": args.window,
               **{f"graph_{k}": v for k, v in stats.items()},
               "build_s": round(build_s, 3), "neighbourhoods_s": round(walk_s, 3),
               "walks": n_walks, "walk_length": args.walk_length, "restart": args.restart,
               "top_t": args.top_t, "mean_filled": round(filled, 3),
               "baseline_rss_mb": round(baseline / MB), "peak_rss_build_mb": round(peak_build / MB),
               "peak_rss_mb": round(peak_walk / MB), "total_s": round(build_s + walk_s, 3),
               "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
