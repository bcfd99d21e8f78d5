"""Where the sampled softmax becomes the better loss than the full softmax, by catalogue size.

For each catalogue size C (synthetic logs shaped like the Globo.com release: 4 sessions per user,
a median of 2 clicks per session, about the same number of clicks whatever C), HierTCN is
trained with its defaults twice, once with `--loss softmax` and once with
`--loss sampled_softmax`, each for the same budget of CPU-seconds of training steps (the
process' own CPU time, so that other work on a shared machine shortens neither run's budget;
the first, compiling, steps are not counted), and then
scored on the validation split against the full catalogue. Per size and loss: time per step
(wall and CPU), the steps and epochs the budget bought and
the validation Recall@10 / MRR. The crossover is the smallest size at which the sampled softmax
reaches at least the full softmax's validation Recall@10 within the budget.

    python benchmarks/bench_loss_crossover.py                                 # 1k, 5k, 20k, 45k
    python benchmarks/bench_loss_crossover.py --items 1000 10000 --budget 60 --events 50000

Settings are compared on validation, never on test. One seed per cell unless `--seeds`: a
single-seed table is a measurement of this budget, not a tuned comparison.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402

LOSSES = ("softmax", "sampled_softmax")
WARMUP_STEPS = 3


def synth_config(n_items, n_events, seed):
    """A Globo-shaped generator config with about `n_events` clicks over `n_items` items."""
    from hiertcn_keras.data.synthetic import SyntheticConfig

    # 4 sessions × 2.5 clicks per user on average (both capped geometric counts).
    per_user = 4.0 * 2.5 * 0.97
    return SyntheticConfig(n_users=max(100, round(n_events / per_user)), n_items=int(n_items), n_topics=50,
                           seed=seed, mean_sessions=4.0, mean_session_len=2.5, max_session_len=40)


def prepare_log(directory, n_items, n_events, seed):
    """Generate and prepare one log; returns the prepared folder."""
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import prepare
    from hiertcn_keras.data.synthetic import generate
    from hiertcn_keras.data.synthetic_io import save

    log = directory / f"log-{n_items}.csv"
    save(generate(synth_config(n_items, n_events, seed), with_oracle=False), log)
    out = directory / f"prepared-{n_items}"
    prepare(load(str(log), "generic")).write(out)
    return out


def train_for_budget(data, loss, budget_cpu_s, seed, batch_size=None, checkpoints=(), on_checkpoint=None,
                     **overrides):
    """Train HierTCN with `loss` for `budget_cpu_s` CPU-seconds; validation metrics and timings.

    `overrides` are more `ModelConfig` settings; at each CPU-second count in `checkpoints` (below
    the budget) the validation split is scored too and `on_checkpoint(row)` called with the
    partial row (scoring time is not counted in the budget).
    """
    import keras
    import numpy as np

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models import build_recommender
    from hiertcn_keras.training.evaluate import batcher_for, evaluate_recommender
    from hiertcn_keras.training.optimizers import make_optimizer
    from hiertcn_keras.training.trainer import model_config_for

    keras.utils.set_random_seed(seed)
    dataset = PreparedDataset(data)
    config = model_config_for(dataset, model="hiertcn", loss=loss, seed=seed, batch_size=batch_size, **overrides)
    batcher = batcher_for(config, dataset.view("train"), shuffle=True, seed=seed, training=True)
    steps_per_epoch = batcher.n_batches(0)
    model = build_recommender(config, item_counts=dataset.item_counts("train"))
    epochs = itertools.count()
    batches = (batch for epoch in epochs for batch in batcher.batches(epoch))
    first = next(batches)
    model(first)
    model.compile(optimizer=make_optimizer(config), jit_compile=True)
    steps, events = 0, 0
    timed_wall = timed_cpu = 0.0
    batch = first
    pending = sorted(c for c in checkpoints if c < budget_cpu_s)

    def row():
        timed = max(steps - WARMUP_STEPS, 1)
        started = time.perf_counter()
        metrics = evaluate_recommender(model, dataset, "valid")
        return {"loss": loss, "n_catalogue": dataset.n_catalogue, "train_events": len(dataset.view("train")),
                "steps": steps, "epochs": round(steps / steps_per_epoch, 2), "events_trained": events,
                "cpu_s": round(timed_cpu, 1), "step_ms_wall": round(1000 * timed_wall / timed, 1),
                "step_ms_cpu": round(1000 * timed_cpu / timed, 1), "batch_size": config.batch_size,
                "learning_rate": config.learning_rate, "val_recall@10": metrics["recall@10"],
                "val_mrr": metrics["mrr"], "val_events": metrics["n_events"],
                "val_seconds": round(time.perf_counter() - started, 1)}

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        while steps < WARMUP_STEPS or timed_cpu < budget_cpu_s:
            wall, cpu = time.perf_counter(), time.process_time()
            model.train_on_batch(batch)
            if steps >= WARMUP_STEPS:  # the budget starts after compilation
                timed_wall += time.perf_counter() - wall
                timed_cpu += time.process_time() - cpu
            steps += 1
            events += int(batch["score"].sum())
            batch = next(batches)
            if pending and timed_cpu >= pending[0]:
                pending.pop(0)
                if on_checkpoint is not None:
                    on_checkpoint(row())
    return row()


def crossover(rows):
    """The smallest catalogue (items seen in training, what the loss rule reads) at which the
    sampled softmax's mean validation Recall@10 is at least the full softmax's, and the largest
    below it where it is not; `(None, largest)` if it never is."""
    by_size = {}
    for row in rows:
        by_size.setdefault(row["n_catalogue"], {}).setdefault(row["loss"], []).append(row["val_recall@10"])
    below = None
    for size in sorted(by_size):
        recalls = {loss: sum(v) / len(v) for loss, v in by_size[size].items()}
        if len(recalls) < 2:
            continue
        if recalls["sampled_softmax"] >= recalls["softmax"]:
            return size, below
        below = size
    return None, below


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 5000, 20000, 45000],
                        help="catalogue sizes (default 1000 5000 20000 45000)")
    parser.add_argument("--events", type=int, default=100_000, help="clicks per log (default 100,000)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="CPU-seconds of training steps per run, compilation left out (default 120)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per cell (default 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the model's")
    parser.add_argument("--json", default=None, metavar="PATH")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    rows = []
    record = {"machine": machine(), "events": args.events, "budget_cpu_s": args.budget, "rows": rows}
    with temp_dir(keep=args.keep, prefix="hiertcn-crossover-") as tmp:
        for n_items in args.items:
            data = prepare_log(tmp, n_items, args.events, seed=7)
            for seed, loss in itertools.product(range(args.seeds), LOSSES):
                row = {"n_items": n_items, "seed": seed,
                       **train_for_budget(data, loss, args.budget, seed, args.batch_size)}
                rows.append(row)
                print(row, flush=True)
    size, below = crossover(rows)
    record["crossover"] = {"sampled_at_least_as_good_from": size, "full_better_at": below}
    table = [[r["n_items"], r["n_catalogue"], r["loss"], r["seed"], f"{r['step_ms_wall']:,.0f}",
              f"{r['step_ms_cpu']:,.0f}", f"{r['steps']:,}", r["epochs"], f"{r['val_recall@10']:.4f}",
              f"{r['val_mrr']:.4f}"] for r in rows]
    print(f"{rows[0]['train_events']:,} training events per log; {args.budget:.0f} CPU-s of training per run; "
          f"batch {rows[0]['batch_size']}")
    print(format_table(["items", "catalogue", "loss", "seed", "ms/step wall", "ms/step CPU", "steps", "epochs",
                        "val R@10", "val MRR"], table))
    if size is None:
        print(f"the full softmax stayed better up to a catalogue of {below:,} items")
    else:
        print(f"sampled softmax at least as good from a catalogue of {size:,} items"
              + (f"; the full softmax better at {below:,}" if below else " (the smallest size measured)"))
    emit_json(record, args.json)


if __name__ == "__main__":
    sys.exit(main())
