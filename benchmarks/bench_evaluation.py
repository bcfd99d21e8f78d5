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
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402

from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.models import build_recommender  # noqa: E402
from hiertcn_keras.models.baselines import NAMES, fit_baseline  # noqa: E402
from hiertcn_keras.training.evaluate import batcher_for, evaluate_baseline, evaluate_recommender  # noqa: E402
from hiertcn_keras.training.trainer import model_config_for  # noqa: E402

NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
SIMPLE = NAMES  # every registered simple baseline


def _neural_pass(dataset, name, jit, split, overrides):
    config = model_config_for(dataset, model=name, **overrides)
    model = build_recommender(config, item_counts=dataset.item_counts("train"))
    model(next(batcher_for(config, dataset.view(split)).batches()))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit)
    return lambda: evaluate_recommender(model, dataset, split)


def _baseline_pass(dataset, name, split):
    baseline = fit_baseline(name, dataset)
    return lambda: evaluate_baseline(baseline, dataset, split, name=name)


def measure(dataset, name, *, repeats=2, jit=True, split="test", **overrides):
    """Events/s of full evaluation passes of one model (best of `repeats`, after one untimed).

    Returns:
        dict: `model`, `events_per_second`, `pass_seconds`, `n_events`, `setup_seconds`
        (build/fit + the untimed first pass).
    """
    started = time.perf_counter()
    if name in NEURAL:
        one_pass = _neural_pass(dataset, name, jit, split, overrides)
    else:
        one_pass = _baseline_pass(dataset, name, split)
    n_events = one_pass()["n_events"]
    setup = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - started)
    best = min(times)
    return {"model": name, "events_per_second": n_events / best, "pass_seconds": best, "n_events": int(n_events),
            "setup_seconds": setup}


def run(dataset, models=NEURAL + SIMPLE, *, repeats=2, jit=True, split="test", **overrides):
    """Measure every model side by side; adds `time_ratio_to_hiertcn`.

    Args:
        dataset: `PreparedDataset`.
        models: sequence of model names. Defaults to all nine.
        repeats: int. Timed passes per model (best reported). Defaults to 2.
        jit: bool. XLA for the neural models. Defaults to `True`.
        split: str. Defaults to `"test"`.
        **overrides: other `ModelConfig` fields of the neural models (e.g. smaller widths).

    Returns:
        list of dicts (see `measure`), in `models` order.
    """
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    results = [measure(dataset, name, repeats=repeats, jit=jit, split=split, **overrides) for name in models]
    base = next((r for r in results if r["model"] == "hiertcn"), results[0])
    for r in results:
        r["time_ratio_to_hiertcn"] = r["pass_seconds"] / base["pass_seconds"]
    return results


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
