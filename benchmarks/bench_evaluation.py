"""Evaluation speed of every model, measured side by side in one run.

Full-catalogue evaluation (`hiertcn_keras.training.evaluate`) of the test split of one prepared
dataset (the default synthetic one unless `--data` names another): neural models replay every
evaluated user's history through their queue batches and rank each scored target against the
whole catalogue; simple baselines score the same targets from the training events. Reports
*scored events per second* of the whole evaluation pass (model forward + ranking + metrics),
the seconds per pass, and each model's time as a ratio to HierTCN's. Neural models are freshly
initialised (speed does not depend on the weights) and compiled like in training (XLA on the
TensorFlow backend); one untimed pass first excludes compilation, then the best of `--repeats`
timed passes is reported.

    python benchmarks/bench_evaluation.py                       # default synthetic data
    python benchmarks/bench_evaluation.py --data runs/default/prepared --repeats 3
    python benchmarks/bench_evaluation.py --models hiertcn tcn mv --json evaluation.json
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
from hiertcn_keras.models.baselines import NAMES  # noqa: E402
from hiertcn_keras.training.experiments import speed  # noqa: E402

NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
SIMPLE = NAMES  # every registered simple baseline


run = speed.evaluation_speed  # the measurement lives in the package (notebook 2 calls it too)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared dataset (default: synthesize the default one)")
    parser.add_argument("--models", nargs="+", default=list(NEURAL + SIMPLE), choices=NEURAL + SIMPLE)
    parser.add_argument("--split", choices=("valid", "test"), default="test")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per model, best reported (default 2)")
    parser.add_argument("--no-jit", action="store_true", help="disable XLA")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be ≥ 1, got {args.repeats}")
    warnings.filterwarnings("ignore")
    from bench_training import default_dataset

    with tempfile.TemporaryDirectory() as tmp:
        dataset = PreparedDataset(args.data or default_dataset(tmp))
        results = run(dataset, args.models, repeats=args.repeats, jit=not args.no_jit, split=args.split)
    print(f"backend {keras.backend.backend()}, XLA {'off' if args.no_jit else 'on'}, {args.split} split, "
          f"{results[0]['n_events']:,} scored events, full catalogue of {dataset.n_catalogue:,} items, "
          f"best of {args.repeats} passes, 1-min load {os.getloadavg()[0]:.1f}")
    print(f"{'model':<8} {'events/s':>10} {'pass s':>8} {'x HierTCN':>10} {'setup s':>8}")
    for r in results:
        print(f"{r['model']:<8} {r['events_per_second']:>10,.0f} {r['pass_seconds']:>8.2f} "
              f"{r['time_ratio_to_hiertcn']:>10.2f} {r['setup_seconds']:>8.1f}")
    record = {"bench": "evaluation", "backend": keras.backend.backend(), "split": args.split, "results": results,
              "load_avg_1min": round(os.getloadavg()[0], 2)}
    print("JSON " + json.dumps(record, default=float))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=float)


if __name__ == "__main__":
    main()
