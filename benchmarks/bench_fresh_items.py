"""Fresh items on a news log: coverage and ranking per test day (or hour), four ways.

On a click log in the generic format (e.g. a development slice of the Globo.com news log),
subsampled to a fraction of its users, prepared with the default temporal cuts:

(a) HierTCN with a learned item space, trained once: it can rank only the training catalogue;
(b) HierTCN in the pretrained item space of a GraphSAGE item model trained once on the training
    split, with the catalogue re-embedded by that same model at the start of every test period
    from the events before it (the user model fixed), candidates = items seen before the period;
(c) recent popularity (last N hours) and session-kNN, refitted per period on the events before it,
    with the same candidates as (b).

Every row reports coverage (scored / all targets) beside Recall@10 and MRR (conservative ties).
Then the time to re-embed the whole catalogue of the full log (graph + neighbourhoods + forward
pass) with an item encoder of the default size, on the cores this process may use.

    nice -n 5 timeout 3000 python benchmarks/bench_fresh_items.py --log globo_dev.csv.gz --users 0.25
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402


def _prepare(log_path, fraction, out, seed):
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import PrepareConfig, prepare

    log = load(log_path, "generic")
    users = log.events["user"].unique()
    keep = np.random.default_rng(seed).permutation(len(users))[: max(1, int(round(fraction * len(users))))]
    frame = log.events[log.events["user"].isin(set(users[keep]))].reset_index(drop=True)
    log = dataclasses.replace(log, events=frame, n_rows=len(frame) + sum(log.dropped.values()))
    prepare(log, PrepareConfig()).write(out)
    return out


def _train_hiertcn(data_dir, out, epochs, patience, dim, item_matrix=None):
    """Train HierTCN with early stopping on the validation Recall@10; returns (model, seconds, epochs run)."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    data = PreparedDataset(data_dir)
    space = {"item_space": "pretrained"} if item_matrix is not None else {}
    config = model_config_for(data, model="hiertcn", embedding_dim=dim, high_units=(dim,), tcn_channels=(dim, dim),
                              batch_size=32, sessions_per_batch=10, **space)
    started = time.perf_counter()
    model, history, _ = train(data_dir, config, TrainConfig(epochs=epochs, patience=patience, verbose=0), out,
                              item_matrix=item_matrix, evaluate_test=False)
    return model, time.perf_counter() - started, len(history.get("loss", ()))


def _reembed_timing(log_path, dim, top_t):
    """Seconds to re-embed the full log's catalogue as of its last day (untrained weights: same cost)."""
    import keras

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import PrepareConfig, prepare
    from hiertcn_keras.models.item_model import ItemGraphEncoder
    from hiertcn_keras.training.dated_items import ItemRefresher, events_before

    with tempfile.TemporaryDirectory() as tmp:
        prepare(load(log_path, "generic"), PrepareConfig()).write(Path(tmp) / "full")
        data = PreparedDataset(Path(tmp) / "full")
        last_day = np.floor(data.events["timestamp"].max() / 86400.0) * 86400.0
        view = events_before(data, last_day)
        n = data.n_items
        encoder = ItemGraphEncoder(n, np.zeros((n, top_t), np.int32), np.zeros((n, top_t), np.float32), dim=dim)
        encoder(np.arange(2, dtype=np.int32))
        keras.utils.set_random_seed(0)
        refresher = ItemRefresher(encoder)
        started = time.perf_counter()
        _, report = refresher.embed(view)
        total = time.perf_counter() - started
    return {"n_items_seen": report["n_seen"], "n_events": report["n_events"], "graph_edges": report["graph"]["edges"],
            "graph_seconds": report["graph_seconds"], "embed_seconds": report["embed_seconds"],
            "total_seconds": round(total, 2), "dim": dim, "top_t": top_t, "cpus": len(os.sched_getaffinity(0))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", required=True, help="click log, generic format (user_id,item_id,timestamp)")
    p.add_argument("--users", type=float, default=0.25, help="fraction of the users kept (default 0.25)")
    p.add_argument("--rolling", choices=("day", "hour"), default="day")
    p.add_argument("--epochs", type=int, default=30, help="HierTCN epoch cap (default 30; early stopping ends it)")
    p.add_argument("--patience", type=int, default=3, help="early-stopping patience on validation Recall@10")
    p.add_argument("--item-epochs", type=int, default=2, help="item model epochs (default 2)")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--recent-hours", type=float, default=24.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training import rolling
    from hiertcn_keras.training.dated_items import ItemRefresher, events_before
    from hiertcn_keras.training.item_config import ItemModelConfig
    from hiertcn_keras.training.item_training import embed_items

    results, timings = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        data_dir = _prepare(args.log, args.users, tmp / "prepared", args.seed)
        data = PreparedDataset(data_dir)
        print(f"prepared {data.stats['n_events']:,} events, {data.n_users:,} users, {data.n_items - 1:,} items "
              f"(catalogue {data.n_catalogue:,}) in {time.perf_counter() - started:.1f} s", flush=True)

        timings["prior_click_full_log"] = _prior_click_share(args.log, data, args.rolling)
        n_t = sum(r["n_targets"] for r in timings["prior_click_full_log"])
        n_p = sum(r["n_prior_full_log"] for r in timings["prior_click_full_log"])
        print(f"test targets whose article had a click in the full log before the {args.rolling}: "
              f"{n_p}/{n_t} = {n_p / max(n_t, 1):.3f}", flush=True)

        item_config = ItemModelConfig(dim=args.dim, epochs=args.item_epochs, seed=args.seed)
        started = time.perf_counter()
        matrix, _ = embed_items(data_dir, tmp / "items", item_config, verbose=0, model_out=tmp / "item_model.keras")
        timings["item_model_train_s"] = round(time.perf_counter() - started, 1)
        print(f"item model trained in {timings['item_model_train_s']} s", flush=True)

        pretrained, timings["hiertcn_pretrained_train_s"], timings["hiertcn_pretrained_epochs"] = _train_hiertcn(
            data_dir, tmp / "pretrained", args.epochs, args.patience, args.dim, item_matrix=matrix)
        print(f"(b) HierTCN pretrained trained in {timings['hiertcn_pretrained_train_s']:.0f} s, "
              f"{timings['hiertcn_pretrained_epochs']} epochs", flush=True)
        import keras

        item_model = keras.models.load_model(tmp / "item_model.keras")
        refresher = ItemRefresher.from_config(item_model.encoder, item_config)
        embed_seconds = []

        def vectors(start):
            began = time.perf_counter()
            out, _ = refresher.embed(events_before(data, start))
            embed_seconds.append(time.perf_counter() - began)
            return out, start, "re-embedded"

        results.append(rolling.rolling_evaluate_recommender(
            pretrained, data, args.rolling, vectors=vectors,
            name=f"(b) HierTCN, pretrained items re-embedded per {args.rolling}"))
        timings["reembed_per_period_s"] = round(float(np.mean(embed_seconds)), 2)
        print(rolling.format_rolling(results[-1]), flush=True)
        results.append(rolling.rolling_evaluate_recommender(
            pretrained, data, args.rolling, vectors=lambda start: (matrix, _cut(data), "training split"),
            name="(b0) HierTCN, pretrained items from the training split only"))
        print(rolling.format_rolling(results[-1]), flush=True)
        for fit, name in ((rolling.recent_popularity(args.recent_hours), f"(c) recent popularity, last {args.recent_hours:g} h"),
                          (rolling.session_knn(), "(c) session-kNN, refitted per period")):
            results.append(rolling.rolling_evaluate_baseline(fit, data, args.rolling, name=name))
            print(rolling.format_rolling(results[-1]), flush=True)

        learned, timings["hiertcn_learned_train_s"], timings["hiertcn_learned_epochs"] = _train_hiertcn(
            data_dir, tmp / "learned", args.epochs, args.patience, args.dim)
        print(f"(a) HierTCN learned trained in {timings['hiertcn_learned_train_s']:.0f} s, "
              f"{timings['hiertcn_learned_epochs']} epochs", flush=True)
        results.append(rolling.rolling_evaluate_recommender(learned, data, args.rolling,
                                                            name="(a) HierTCN, learned items, trained once"))
        print(rolling.format_rolling(results[-1]), flush=True)

    if not args.skip_timing:
        timings["reembed_full_catalogue"] = _reembed_timing(args.log, 64, 10)
        print("re-embed the full log's catalogue:", json.dumps(timings["reembed_full_catalogue"]), flush=True)
    print(_summary(results))
    print(json.dumps({"timings": timings}))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results, "timings": timings}, indent=1))


def _prior_click_share(log_path, data, unit):
    """Per period: the share of the test targets whose article had a click in the FULL log
    (every user, not only the subsample) before the period's start — the best coverage any
    system refreshed once per period could reach with the whole site's clicks."""
    from hiertcn_keras.data import splits
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.training import rolling

    full = load(log_path, "generic").events
    first = full.groupby("item")["timestamp"].min()
    seen = np.full(data.n_items, np.inf)
    seen[data.items["index"].to_numpy()] = first.reindex(data.items["id"].astype(str)).to_numpy(dtype=float)
    ev = data.events
    is_target = ev["split"] == splits.split_code("test")
    rows = []
    for start in rolling.period_starts(data, "test", unit):
        in_period = is_target & (ev["timestamp"] >= start) & (ev["timestamp"] < start + rolling.UNITS[unit])
        before = seen[ev["item"][in_period]] < start
        rows.append({"start": start, "n_targets": int(in_period.sum()), "n_prior_full_log": int(before.sum())})
    return rows


def _cut(data):
    """The training cut: the first event time of the validation split."""
    ev = data.events
    return float(ev["timestamp"][ev["split"] > 0].min())


def _summary(results):
    lines = ["| model | period | coverage | Recall@10 | MRR |", "|---|---|---|---|---|"]
    for r in results:
        for p in r["periods"]:
            lines.append(f"| {r['model']} | {p['start'][:13]} | {p['coverage']:.3f} ({p['n_scored']}/{p['n_targets']}) "
                         f"| {p['recall@10']:.4f} | {p['mrr']:.4f} |")
        lines.append(f"| {r['model']} | **overall** | {r['coverage']:.3f} ({r['n_events']}/{r['n_targets']}) "
                     f"| {r['recall@10']:.4f} | {r['mrr']:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
