"""Benchmark online serving: per-event latency (observe + top-10) and events/s on one core.

For each catalogue size (`--items`, default 100k and 1M) a synthetic servable run is written
(`_serving_common.synthetic_run`: an untrained HierTCN with the official sizes, pretrained
item space, 128-d clustered item vectors in a memory-mapped store), then the same synthetic
event stream is replayed through `OnlineRecommender` with each retrieval (`exact`, `ivf`,
`hnsw`), side by side in one process pinned to one CPU core (and TF, BLAS and faiss limited to
one thread). Each event is timed end to end: `observe` (SQLite user store read, session rule,
fold at session starts, low-level TCN, store write) + top-10 excluding the open session.
Reported per configuration: p50/p90/p99 ms, events/s, the two halves' p50, and for faiss its
recall@10 against exact search on the replay's own user embeddings (plus the build-time
figure on catalogue vectors). The first `--warmup` events are not timed.

Before and after in one run (`--steps`): each configuration is replayed with the `reference`
user update (`OnlineModel.fold` + `embed`, the path before `user_step`) and with the
`compiled` one (`UserStep`: one compiled call per event), on the same index and the same
events (renamed users, so each replay starts from empty states); the ratio of their events/s
and observe p50 is printed (`numpy`, `NumpyStep`, can be a third). `--batch B` also replays
requests of B consecutive events (`observe_batch`: one store read and one write per user per
request, as `POST /events` does), each event still ranked, latency then per request, once per
`--batch-steps` (default `compiled` then `numpy`, `serve`'s default for HierTCN): the update's
own CPU per request (`observe_batch` alone) of each, and their ratio, are printed.

Usage:

    python benchmarks/bench_serving.py                                  # 100k and 1M items
    python benchmarks/bench_serving.py --items 20000 --events 300 --retrieval exact hnsw
"""

from __future__ import annotations

import argparse
import json
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

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402
from _serving_common import percentiles_ms, synthetic_events, synthetic_run  # noqa: E402


STEP_KINDS = ("reference", "compiled", "numpy", "numpy-gather")


def replay(recommender, events, warmup, k=10, batch=1):
    """Time observe + top-k per request of `batch` events; returns timings and the embeddings queried.

    Returns:
        `(total, observe, search, queries, n_events, cpu, observe_cpu)`: per-request wall
        seconds (arrays), the queried embeddings `[n, E]`, the number of timed events, the
        process CPU seconds of each request and of its update alone (`observe_batch`: store
        read, session rule, user update, store write). On a shared machine, waiting for the
        core is in the wall times, not here: a request's CPU time is what it takes on a core of
        its own.
    """
    total, observe_s, search_s, queries, n_events, cpu_s, observe_cpu = [], [], [], [], 0, [], []
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        cpu_started = time.process_time()
        started = time.perf_counter()
        if batch == 1:
            observations = [recommender.observe(*chunk[0])]
        else:
            observations = recommender.observe_batch(chunk).observations
        mid = time.perf_counter()
        cpu_mid = time.process_time()
        ranked = [obs for obs in observations if obs.embedding is not None]
        if ranked:  # a request's events are ranked together: one search of all its embeddings
            recommender.top_k(np.stack([obs.embedding for obs in ranked]), k,
                              exclude=[set(obs.session) for obs in ranked])
        done = time.perf_counter()
        cpu_done = time.process_time()
        if start >= warmup:
            cpu_s.append(cpu_done - cpu_started)
            observe_cpu.append(cpu_mid - cpu_started)
            total.append(done - started)
            observe_s.append(mid - started)
            search_s.append(done - mid)
            queries.extend(obs.embedding for obs in observations if obs.embedding is not None)
            n_events += len(chunk)
    return (np.asarray(total), np.asarray(observe_s), np.asarray(search_s), np.stack(queries), n_events,
            np.asarray(cpu_s), np.asarray(observe_cpu))


def calls_per_request(events, rules, index_of, batch, warmup):
    """Compiled update calls per request of `batch` events, by the two batching rules (a count).

    Rounds by *event* (the r-th accepted event of every user: the rule before session segments)
    against rounds by *session segment* (`OnlineRecommender.observe_batch` now): per request,
    the most accepted events, and the most segments, of any one user. Decided by the session
    rule alone, from empty states, so it is exact and machine-independent.

    Returns:
        `(by_event, by_segment)`: mean calls per timed request.
    """
    import collections

    from hiertcn_keras.serving import sessionizer
    from hiertcn_keras.serving.user_state import UserState

    states, by_event, by_segment, n = {}, 0, 0, 0
    for start in range(0, len(events), batch):
        accepted, segments = collections.Counter(), collections.Counter()
        for user, item, t in events[start : start + batch]:
            state = states.get(user) or UserState.initial(1)
            index = index_of(item)
            decision = sessionizer.decide(state, index, t, rules)
            if not decision.changes_state:
                continue
            states[user] = sessionizer.apply(state, index, decision)
            accepted[user] += 1
            segments[user] += decision.kind == "new_session" or segments[user] == 0
        if start >= warmup:
            by_event += max(accepted.values(), default=0)
            by_segment += max(segments.values(), default=0)
            n += 1
    return by_event / max(n, 1), by_segment / max(n, 1)


def _measure(rec, events, warmup, n_items, label, open_s, setup_s, batch=1, profile=0):
    """Replay `events` through `rec` and summarise the timings (and recall for faiss).

    With `profile` > 0, a second replay of the first `warmup + 300` events (users renamed, so
    from empty states) runs under cProfile after the measured one, and its `profile` functions
    with the most own time are printed to stderr: where the CPU goes (the measured figures are
    not disturbed by the profiler).
    """
    from hiertcn_keras.serving.faiss_retriever import recall_at_k
    from hiertcn_keras.serving.retrieval import ExactRetriever

    total, observe_s, search_s, queries, n_events, cpu, observe_cpu = replay(rec, events, warmup, batch=batch)
    if profile:
        import cProfile
        import pstats

        again = [(f"profiled-{user}", item, t) for user, item, t in events[: warmup + 300]]
        profiler = cProfile.Profile()
        profiler.runcall(replay, rec, again, warmup, batch=batch)
        print(f"cProfile of {label}, {batch} event(s) per request, {len(again) - warmup} events:", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(profile)
    record = {"n_items": n_items, "retrieval": label, "events": n_events, "batch": batch,
              "events_per_s": round(n_events / total.sum(), 1), **percentiles_ms(total),
              "events_per_cpu_s": round(n_events / cpu.sum(), 1),
              **{f"cpu_{key}": value for key, value in percentiles_ms(cpu).items()},
              "observe_events_per_s": round(n_events / observe_s.sum(), 1),
              "observe_p50_ms": percentiles_ms(observe_s)["p50_ms"],
              **{f"observe_cpu_{key}": value for key, value in percentiles_ms(observe_cpu).items()},
              "observe_cpu_mean_ms": round(float(observe_cpu.mean()) * 1000, 3),
              "search_p50_ms": percentiles_ms(search_s)["p50_ms"],
              "open_s": round(open_s, 2), "setup_s": round(setup_s, 2), "item_vectors": rec.catalog.source}
    if label != "exact":
        exact, _ = ExactRetriever(rec.catalog.table).search(queries, 10)
        approx, _ = rec.retriever.search(queries, 10)
        record["recall@10_replay"] = round(recall_at_k(approx, exact), 4)
        record["build"] = rec.retriever.report
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--retrieval", nargs="+", default=["exact", "ivf", "hnsw"], choices=["exact", "ivf", "hnsw"])
    parser.add_argument("--events", type=int, default=3000, help="timed events per configuration")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: the last one)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run folders")
    parser.add_argument("--nprobe", type=int, nargs="+", default=None,
                        help="ivf: replay once per nprobe on the same index (default: the retriever's own)")
    parser.add_argument("--ivf-train-per-cell", type=int, default=None,
                        help="ivf: k-means training rows per cell (default 256, faiss's ceiling; 39 is its floor)")
    parser.add_argument("--steps", nargs="*", default=["reference", "compiled"], choices=list(STEP_KINDS),
                        help="user updates to replay one event per request: reference (OnlineModel.fold + embed), "
                        "compiled (UserStep), numpy (NumpyStep), numpy-gather (NumpyStep gathering from the model's "
                        "table as it does above 64 MiB, e.g. 1M items); default reference and compiled; none "
                        "(`--steps` alone) with --batch replays only the batched requests")
    parser.add_argument("--batch", type=int, default=0,
                        help="also replay in requests of this many events, once per --batch-steps (default 0: no)")
    parser.add_argument("--batch-steps", nargs="+", default=["compiled", "numpy"], choices=list(STEP_KINDS),
                        help="user updates replayed in requests of --batch events, in this order (default compiled "
                        "numpy: the compiled call against NumPy over the real positions, on the same events)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile the batched replays (--batch) and print their N most expensive functions")
    parser.add_argument("--nlist", type=int, default=None, help="ivf: cells (default: the retriever's 4·√N)")
    parser.add_argument("--recall-target", type=float, default=None,
                        help="ivf: calibrate nprobe to this recall@10 on the model's own user vectors (e.g. 0.99)")
    parser.add_argument("--quantizer", choices=["auto", "flat", "hnsw"], default="auto",
                        help="ivf: coarse quantizer (default: the retriever's rule, HNSW from 1,024 cells)")
    parser.add_argument("--codes", choices=["auto", "flat", "sq8", "pq4-dim", "pq4"], default="auto",
                        help="ivf: stored vectors (default: the retriever's rule, ivf_plan)")
    parser.add_argument("--rerank", type=int, default=None,
                        help="ivf: candidates re-scored exactly per item asked for (default: the codes' own, "
                        "calibrated with nprobe under --recall-target)")
    args = parser.parse_args(argv)

    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})

    from hiertcn_keras.serving.numpy_step import NumpyStep
    from hiertcn_keras.serving.online_recommender import OnlineRecommender
    from hiertcn_keras.serving.user_step import ReferenceStep, UserStep

    rows, results, ratios, build_rows = [], [], [], []
    with temp_dir(keep=args.keep, prefix="hiertcn-bench-serving-") as tmp:
        for n_items in args.items:
            started = time.perf_counter()
            run_dir, items_dir = synthetic_run(tmp / f"n{n_items}", n_items)
            setup_s = time.perf_counter() - started
            events = synthetic_events(args.warmup + args.events, args.users, n_items, seed=1)
            for kind in args.retrieval:
                started = time.perf_counter()
                options = {"threads": 1} if kind != "exact" else {}
                if kind == "ivf" and args.ivf_train_per_cell:
                    options["train_per_cell"] = args.ivf_train_per_cell
                if kind == "ivf" and args.nlist:
                    options["nlist"] = args.nlist
                if kind == "ivf":
                    options.update(quantizer=args.quantizer, codes=args.codes)
                    if args.rerank is not None:
                        options["rerank"] = args.rerank
                    if args.recall_target is not None:
                        options["recall_target"] = args.recall_target
                rss_before = _rss_bytes()
                wanted = set(args.steps + (args.batch_steps if args.batch > 1 else []))
                # The compiled update is built (and every bucket compiled) only when it is replayed.
                rec = OnlineRecommender.open(run_dir, items=items_dir, store=f"sqlite:{tmp / f'{n_items}-{kind}.sqlite'}",
                                             retrieval=kind, retrieval_options=options,
                                             step="compiled" if "compiled" in wanted else "numpy" if "numpy" in wanted
                                             else "reference")
                rec.step.warm()  # every bucket of steps × rows, outside the timings
                open_s = time.perf_counter() - started
                if kind != "exact":
                    build = rec.retriever.report
                    build_rows.append({**build, "rss_growth_bytes": _rss_bytes() - rss_before})
                    print(f"{n_items:,} / {kind} index: {json.dumps(build_rows[-1])}", file=sys.stderr, flush=True)
                steps = {"compiled" if "compiled" in wanted else "numpy" if "numpy" in wanted else "reference": rec.step}
                steps.setdefault("reference", ReferenceStep(rec.model))
                if "numpy" in wanted:
                    steps["numpy"] = steps.get("numpy") or NumpyStep(rec.model, table=rec.catalog.table)
                    gap = steps["numpy"].verify(UserStep(rec.model, compiled=False, batch_sizes=(1, 64)))
                    print(f"NumpyStep against the eager Keras graph: max |difference| {gap:.2g}; item vectors from: "
                          f"{steps['numpy'].table_source}", file=sys.stderr)
                if "numpy-gather" in wanted:  # the path of a table over 64 MiB (1M items), at any size
                    steps["numpy-gather"] = NumpyStep(rec.model, copy_table_bytes=0)
                # Several nprobe values share one index; each replay renames the users, so every
                # replay starts from empty user states, as the first one does.
                probes = args.nprobe if kind == "ivf" and args.nprobe else [None]
                variants = [(step, 1) for step in args.steps]
                if args.batch > 1:
                    variants.extend((step, args.batch) for step in args.batch_steps)
                    by_event, by_segment = calls_per_request(events, rec.rules, rec.catalog.index_of_one,
                                                              args.batch, args.warmup)
                    ratios.append({"n_items": n_items, "calls_per_request_by_event": round(by_event, 2),
                                   "calls_per_request_by_segment": round(by_segment, 2)})
                    print(f"{args.batch} events per request: compiled calls per request {by_event:.2f} by event "
                          f"rounds (before), {by_segment:.2f} by session segments (now)", file=sys.stderr)
                replay_id = 0
                for probe in probes:
                    if probe is not None:
                        rec.retriever.set_nprobe(probe)
                    label = kind if kind != "ivf" else f"{kind} nprobe {rec.retriever.nprobe}"
                    by_step = {}
                    for step, batch in variants:
                        rec.step = steps[step]
                        stream = [(f"r{replay_id}-{user}", item, t) for user, item, t in events]
                        replay_id += 1
                        record = _measure(rec, stream, args.warmup, n_items, label, open_s, setup_s, batch,
                                          profile=args.profile if batch > 1 else 0)
                        record["step"] = step
                        results.append(record)
                        print(f"result: {json.dumps(record)}", file=sys.stderr, flush=True)
                        by_step[(step, batch)] = record
                        rows.append([f"{n_items:,} / {label}", step if batch == 1 else f"{step}, {batch}/request",
                                     record["p50_ms"], record["p90_ms"], record["p99_ms"], record["cpu_p50_ms"],
                                     record["cpu_p99_ms"], record["events_per_s"],
                                     record["events_per_cpu_s"], record["observe_cpu_p50_ms"],
                                     record["observe_cpu_p99_ms"], record["observe_cpu_mean_ms"],
                                     record["observe_events_per_s"], record["observe_p50_ms"], record["search_p50_ms"],
                                     record.get("recall@10_replay", "exact"),
                                     rec.retriever.report.get("recall@10", "–")])
                    if ("reference", 1) in by_step and ("compiled", 1) in by_step:
                        before, after = by_step[("reference", 1)], by_step[("compiled", 1)]
                        ratio = {"n_items": n_items, "retrieval": label,
                                 "events_per_s_ratio": round(after["events_per_s"] / before["events_per_s"], 2),
                                 "events_per_cpu_s_ratio": round(after["events_per_cpu_s"]
                                                                 / before["events_per_cpu_s"], 2),
                                 "observe_events_per_s_ratio": round(after["observe_events_per_s"]
                                                                     / before["observe_events_per_s"], 2)}
                        ratios.append(ratio)
                    batched = [by_step[(step, args.batch)] for step in args.batch_steps if (step, args.batch) in by_step]
                    for other in batched[1:]:  # each batched update against the first (default: numpy ÷ compiled)
                        base = batched[0]
                        ratios.append({"n_items": n_items, "retrieval": label, "batch": args.batch,
                                       "steps": [other["step"], base["step"]],
                                       "observe_cpu_mean_ms": [other["observe_cpu_mean_ms"], base["observe_cpu_mean_ms"]],
                                       "observe_cpu_p99_ms": [other["observe_cpu_p99_ms"], base["observe_cpu_p99_ms"]],
                                       "events_per_cpu_s_ratio": round(other["events_per_cpu_s"]
                                                                       / base["events_per_cpu_s"], 2)})
                rec.close()
                print(f"done {n_items:,} / {kind}", file=sys.stderr, flush=True)
    print(format_table(["items / retrieval", "user update", "p50 ms", "p90 ms", "p99 ms", "CPU p50 ms", "CPU p99 ms",
                        "events/s",
                        "events per CPU-s", "update CPU p50 ms", "update CPU p99 ms", "update CPU mean ms",
                        "observe-only events/s", "observe p50", "top-10 p50", "recall@10 (replay)",
                        "recall@10 (build)"], rows))
    for ratio in ratios:
        if "steps" in ratio:
            (new, old), mean, p99 = ratio["steps"], ratio["observe_cpu_mean_ms"], ratio["observe_cpu_p99_ms"]
            print(f"{ratio['n_items']:,} / {ratio['retrieval']}, {ratio['batch']} events per request: the update "
                  f"(observe_batch) costs {mean[0]} ms of CPU per request with {new} against {mean[1]} ms with {old} "
                  f"({mean[1] / mean[0]:.2f}× less; p99 {p99[0]} against {p99[1]} ms); {new} ÷ {old} = "
                  f"{ratio['events_per_cpu_s_ratio']}× events per CPU-second (update + top-10)")
            continue
        if "events_per_s_ratio" not in ratio:
            print(f"{ratio['n_items']:,}: compiled calls per request {ratio['calls_per_request_by_event']} by event "
                  f"rounds (before), {ratio['calls_per_request_by_segment']} by session segments (now)")
            continue
        print(f"{ratio['n_items']:,} / {ratio['retrieval']}: compiled ÷ reference = {ratio['events_per_s_ratio']}× "
              f"events/s (observe + top-10), {ratio['events_per_cpu_s_ratio']}× events per CPU-second, "
              f"{ratio['observe_events_per_s_ratio']}× observe-only events/s")
    for build in build_rows:
        print(f"{build['n_items']:,} items, {build['kind']} index: built in {build['build_seconds']:g} s wall, "
              f"{build['build_cpu_seconds']:g} s CPU "
              + (f"(+ nprobe calibration {build['calibration_seconds']:g} s wall, {build['calibration_cpu_seconds']:g} s "
                 "CPU), " if "calibration_seconds" in build else ", ")
              + f"its arrays {build['index_bytes'] / 2**20:,.1f} MiB, process memory grew "
              f"{build['rss_growth_bytes'] / 2**20:,.1f} MiB while the recommender opened; "
              + ", ".join(f"{key} {build[key]}" for key in ("nlist", "quantizer", "codes", "nprobe", "rerank", "recall@10")
                          if key in build))
    emit_json({"benchmark": "serving", "machine": machine(), "core": core, "load_average": os.getloadavg(),
               "results": results, "ratios": ratios, "indexes": build_rows}, args.json)


def _rss_bytes():
    """This process's resident memory now (Linux `/proc/self/statm`), in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


if __name__ == "__main__":
    main()
