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
import json
import os
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402

from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.training.experiments import speed  # noqa: E402

MODELS = speed.MODELS
run = speed.training_speed  # the measurement lives in the package (notebook 2 calls it too)


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
