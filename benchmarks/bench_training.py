"""Training speed of HierTCN and the neural baselines, measured side by side in one run.

The paper's training-time table (docs/concepts.md#results-reported-in-the-paper) has HierTCN 2.53×
faster than HierGRU. This script trains every model on the same prepared dataset (the default
synthetic one unless `--data` names another) with its real queue batches, XLA-compiled on the
TensorFlow backend, and reports steady-state training throughput in *scored events per second* (the
same events for every model: hierarchical models read them as [B, S, L] session batches, flat models
as [B, T] history chunks), the implied seconds per epoch, and the ratio of each model's time to
HierTCN's. Compilation is excluded (`--warmup` steps first).

    python benchmarks/bench_training.py                      # default synthetic data
    python benchmarks/bench_training.py --data runs/default/prepared --steps 30
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.data.py_dataset import batch_nbytes  # noqa: E402
from hiertcn_keras.models import build_recommender  # noqa: E402
from hiertcn_keras.training.evaluate import batcher_for  # noqa: E402
from hiertcn_keras.training.trainer import model_config_for  # noqa: E402

MODELS = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")


def default_dataset(directory):
    """Synthesize and prepare the default dataset (2,000 users, 1,000 items, seed 7)."""
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import prepare
    from hiertcn_keras.data.synthetic import SyntheticConfig, generate
    from hiertcn_keras.data.synthetic_io import save

    log_path = os.path.join(directory, "log.csv")
    save(generate(SyntheticConfig(), with_oracle=False), log_path)
    prepare(load(log_path, "generic")).write(os.path.join(directory, "prepared"))
    return os.path.join(directory, "prepared")


def measure(dataset, name, steps, warmup, jit, item_space="learned", loss=None, **overrides):
    config = model_config_for(dataset, model=name, item_space=item_space, loss=loss, **overrides)
    matrix = None
    if item_space == "pretrained":
        # Speed does not depend on the vectors' values: random unit vectors of the default size.
        rng = np.random.default_rng(0)
        matrix = rng.normal(size=(dataset.n_items, config.embedding_dim)).astype("float32")
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    view = dataset.view("train")
    batcher = batcher_for(config, view, shuffle=True, seed=0)
    n_batches = batcher.n_batches(0)
    batches = list(itertools.islice(itertools.cycle(list(batcher.batches(0))), warmup + steps))
    model = build_recommender(config, item_matrix=matrix, item_counts=dataset.item_counts("train"))
    model(batches[0])
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit)
    started = time.perf_counter()
    for batch in batches[:warmup]:
        model.train_on_batch(batch)
    compile_seconds = time.perf_counter() - started
    events = sum(int(b["score"].sum()) for b in batches[warmup:])
    started = time.perf_counter()
    for batch in batches[warmup:]:
        loss = model.train_on_batch(batch)
    seconds = time.perf_counter() - started
    rate = events / seconds
    return {
        "model": name,
        "loss": config.loss,
        "events_per_second": rate,
        "epoch_seconds": len(view) / rate,
        "step_ms": 1000 * seconds / steps,
        "batches_per_epoch": n_batches,
        "batch_bytes": batch_nbytes(batches[0]),
        "slots_per_batch": int(np.prod(batches[0]["items"].shape)),
        "events_per_batch": events / steps,
        "warmup_seconds": compile_seconds,
        "params": model.count_params(),
        "final_loss": float(np.asarray(loss)),
    }


def run(dataset, models=MODELS, *, steps=20, warmup=3, jit=True, item_space="learned", loss=None, **overrides):
    """Measure every model side by side on one dataset; add `time_ratio_to_hiertcn`.

    Args:
        dataset: `PreparedDataset`.
        models: sequence of model names. Defaults to all five.
        steps: int. Timed steps per model. Defaults to 20.
        warmup: int. Untimed steps first (compilation). Defaults to 3.
        jit: bool. XLA. Defaults to `True`.
        item_space: str. `learned` or `pretrained`. Defaults to `learned`.
        loss: str or `None`. Defaults to the item space's default.
        **overrides: other `ModelConfig` fields (e.g. smaller widths for a quick check).

    Returns:
        list of dicts, one per model (see `measure`), in `models` order.
    """
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    results = [measure(dataset, name, steps, warmup, jit, item_space, loss, **overrides) for name in models]
    base = next((r for r in results if r["model"] == "hiertcn"), results[0])
    for r in results:
        r["time_ratio_to_hiertcn"] = r["epoch_seconds"] / base["epoch_seconds"]
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared dataset (default: synthesize the default one)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    parser.add_argument("--no-jit", action="store_true", help="disable XLA")
    parser.add_argument("--item-space", choices=("learned", "pretrained"), default="learned",
                        help="learned: full softmax over the catalogue (default); pretrained: frozen vectors "
                        "and a pairwise loss, the talk's web-scale setup behind the paper's timing table")
    parser.add_argument("--loss", default=None, help="loss (default: softmax / hinge)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        dataset = PreparedDataset(args.data or default_dataset(tmp))
        results = run(dataset, args.models, steps=args.steps, warmup=args.warmup, jit=not args.no_jit,
                      item_space=args.item_space, loss=args.loss)
    print(f"backend {keras.backend.backend()}, XLA {'off' if args.no_jit else 'on'}, "
          f"item space {args.item_space} ({results[0]['loss']}), "
          f"{len(dataset.view('train')):,} training events, {args.steps} timed steps per model")
    print(f"{'model':<8} {'events/s':>10} {'epoch s':>8} {'x HierTCN':>10} {'step ms':>8} "
          f"{'batch bytes':>12} {'events/batch':>13} {'params':>10}")
    for r in results:
        print(f"{r['model']:<8} {r['events_per_second']:>10,.0f} {r['epoch_seconds']:>8.1f} "
              f"{r['time_ratio_to_hiertcn']:>10.2f} {r['step_ms']:>8.1f} {r['batch_bytes']:>12,} "
              f"{r['events_per_batch']:>13,.0f} {r['params']:>10,}")
    print(json.dumps({"bench": "training", "backend": keras.backend.backend(), "item_space": args.item_space,
                      "results": results}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
