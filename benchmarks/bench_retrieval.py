"""Benchmark retrieval alone: faiss IVF indexes at a recall target, CPU per query on one thread.

The catalogue is `_serving_common.clustered_vectors` (the vectors `bench_serving.py` serves,
128-d, 1,000 Gaussian clusters, L2-normalised); the queries are the user embeddings of an
untrained HierTCN at the official sizes in that pretrained item space (the model
`bench_serving.py` serves), in two sets:

- *short sessions*: 1–3 random catalogue items from the zero state, as
  `OnlineRecommender.sample_queries` draws them at start-up: half calibrates each index to
  `--recall-target` (`FaissRetriever(recall_target=...)`), the other half is held out;
- *with history*: two folded sessions and an open one of 1–9 items drawn by the replay's
  Zipf-like popularity (the state a returning user is ranked from), never used to calibrate.

Each configuration (`--configs`, default `before` = the previous rule, 8-bit codes with 4·k
exact re-scoring, and `after` = the current rule, 4-bit PQ fast-scan codes with a calibrated
exact re-rank) is built on the same vectors, calibrated on the same queries, then timed on the
history queries in requests of `--batch` queries (one `search` call each, as a server ranks a
request's events), one process pinned to one core with faiss and BLAS on one thread. Reported:
the pair chosen (nprobe, re-rank depth), recall@10 against exact search on the held-out and the
history queries, CPU ms per query (mean, and p50/p99 per request), build and calibration CPU
seconds, index memory; and the ratio of the mean CPU per query of every configuration to the
first's.

Usage:

    python benchmarks/bench_retrieval.py                       # 1M items, before and after
    python benchmarks/bench_retrieval.py --items 100000 --configs after sq8-flat
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One core, one thread per library: set before numpy / TensorFlow / faiss load.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import emit_json, format_table, machine  # noqa: E402
from _serving_common import clustered_vectors, percentiles_ms  # noqa: E402

CONFIGS = {
    "before": {"codes": "sq8", "quantizer": "hnsw"},  # the previous rule at 1M: 8-bit codes, 4·k, HNSW cells
    "after": {"codes": "auto"},  # the current rule (ivf_plan)
    "sq8-flat": {"codes": "sq8", "quantizer": "flat"},
    "sq8-hnsw": {"codes": "sq8", "quantizer": "hnsw"},
    "pq4-dim-flat": {"codes": "pq4-dim", "quantizer": "flat"},
    "pq4-dim-hnsw": {"codes": "pq4-dim", "quantizer": "hnsw"},
    "pq4-flat": {"codes": "pq4", "quantizer": "flat"},
}


def user_queries(matrix, n, seed=0):
    """The untrained HierTCN's user embeddings: `(short, history)`, each float32 `[n, E]`."""
    import keras

    import hiertcn_keras.models  # noqa: F401  (registers the custom objects)
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.serving.online_model import OnlineModel

    n_items = len(matrix) - 1
    keras.utils.set_random_seed(seed)
    config = ModelConfig(model="hiertcn", n_items=n_items + 1, n_catalogue=n_items, item_space="pretrained",
                         batch_size=1, sessions_per_batch=1)
    online = OnlineModel(build_recommender(config, item_matrix=matrix))
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()

    def last(state, sessions):
        u = online.embed(state, sessions)
        return u[np.arange(len(sessions)), [len(s) for s in sessions]]

    def popular(size):
        return (rng.choice(n_items, size, p=popularity) + 1).tolist()

    short, history = [], []
    for start in range(0, n, 250):
        rows = min(250, n - start)
        zero = np.zeros((rows, online.state_size), np.float32)
        short.append(last(zero, [rng.integers(1, n_items + 1, rng.integers(1, 4)).tolist() for _ in range(rows)]))
        state = zero
        for _ in range(2):
            state = online.fold(state, [popular(rng.integers(2, 10)) for _ in range(rows)],
                                gap=np.full(rows, 5400.0, np.float32))
        history.append(last(state, [popular(rng.integers(1, 10)) for _ in range(rows)]))
    return np.concatenate(short), np.concatenate(history)


def time_search(retriever, queries, batch, k=10):
    """CPU seconds of `retriever.search` per request of `batch` queries, and the labels found."""
    cpu, found = [], []
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        started = time.process_time()
        labels, _ = retriever.search(chunk, k)
        cpu.append(time.process_time() - started)
        found.append(labels)
    return np.asarray(cpu), np.concatenate(found)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000, help="queries per set (short sessions, with history)")
    parser.add_argument("--recall-target", type=float, default=0.99)
    parser.add_argument("--batch", type=int, default=10, help="queries per search call (a request's events)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the history queries")
    parser.add_argument("--configs", nargs="+", default=["before", "after"], choices=sorted(CONFIGS))
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: the last one)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})

    from hiertcn_keras.serving.faiss_retriever import FaissRetriever, recall_at_k
    from hiertcn_keras.serving.retrieval import ExactRetriever

    started = time.process_time()
    matrix = clustered_vectors(args.items, 128, seed=0)
    short, history = user_queries(matrix, args.queries)
    exact_history, _ = ExactRetriever(matrix).search(history, 10)
    setup_cpu = time.process_time() - started
    print(f"setup: {args.items:,} vectors, {2 * args.queries} user embeddings and their exact top-10 in "
          f"{setup_cpu:.1f} s CPU", file=sys.stderr, flush=True)

    rows, results = [], []
    for name in args.configs:
        retriever = FaissRetriever(matrix, kind="ivf", recall_target=args.recall_target, recall_queries=short,
                                   threads=1, **CONFIGS[name])
        report = retriever.report
        print(f"{name}: {report}", file=sys.stderr, flush=True)
        retriever.search(history[: args.batch], 10)  # first call outside the timings
        cpu = np.concatenate([time_search(retriever, history, args.batch)[0] for _ in range(args.repeat)])
        _, found = time_search(retriever, history, args.batch)
        record = {"config": name, **{key: report.get(key) for key in (
                      "nlist", "quantizer", "codes", "nprobe", "rerank", "recall@10", "build_cpu_seconds",
                      "calibration_cpu_seconds", "index_bytes", "nprobe_tried", "rerank_tried")},
                  "recall@10_history": round(recall_at_k(found, exact_history), 4),
                  "cpu_ms_per_query": round(1000 * float(cpu.sum()) / (len(history) * args.repeat), 4),
                  **{f"cpu_request_{key}": value for key, value in percentiles_ms(cpu).items()}}
        results.append(record)
        print(f"result: {record}", file=sys.stderr, flush=True)
        rows.append([name, f"{record['nlist']:,} / {record['quantizer']} / {record['codes']}", record["nprobe"],
                     record["rerank"], record["recall@10"], record["recall@10_history"], record["cpu_ms_per_query"],
                     record["cpu_request_p50_ms"], record["cpu_request_p99_ms"],
                     f"{record['build_cpu_seconds']:g} + {record['calibration_cpu_seconds']:g}",
                     f"{record['index_bytes'] / 2**20:,.1f}"])
        del retriever
    print(format_table(["config", "cells / quantizer / codes", "nprobe", "re-rank (×k)", "recall@10 held-out",
                        "recall@10 history", "CPU ms per query", f"CPU ms per {args.batch} p50", "p99",
                        "build + calibration CPU s", "index MiB"], rows))
    first = results[0]
    for record in results[1:]:
        print(f"{args.items:,} items: {record['config']} ÷ {first['config']} = "
              f"{record['cpu_ms_per_query'] / first['cpu_ms_per_query']:.3f}× the CPU per query "
              f"({first['cpu_ms_per_query'] / record['cpu_ms_per_query']:.2f}× cheaper)")
    emit_json({"benchmark": "retrieval", "machine": machine(), "core": core, "load_average": os.getloadavg(),
               "n_items": args.items, "recall_target": args.recall_target, "batch": args.batch,
               "setup_cpu_seconds": round(setup_cpu, 1), "results": results}, args.json)


if __name__ == "__main__":
    main()
