"""The tuning verb `tune`, and the `--tune` / `--refit` steps that `train` and `compare` share."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from hiertcn_keras.cli.common import NEURAL, SIMPLE, add_model_options, formatter

ORDER = 25
COVERAGE_WARNING = 0.5


def register(sub):
    """Adds `tune` to the subparsers `sub`."""
    p = sub.add_parser(
        "tune",
        help="search a model's hyper-parameters on the validation split (Optuna) and keep the best run",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Search the hyper-parameters of a neural model (learning rate, dropout, embedding
            dropout, weight decay, tied item tables, embedding size) or a simple baseline's own
            parameters (k and history of sknn, the window of mv/maxitem) on the validation split,
            with Optuna's TPE sampler and median pruning, under a budget of --trials trials and
            --timeout seconds. Every trial's settings and validation metrics go to OUT/trials.json
            and OUT/trials.csv as it finishes; OUT/study.db lets the same command resume a killed
            search. The best trial's run is scored on the test split and kept as OUT/best (a run
            directory for `hiertcn evaluate`); with --refit it is then retrained on training +
            validation (OUT/refit). The test split never takes part in the choice."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn tune --data prepared --model hiertcn --out runs/tune-hiertcn --trials 20 --timeout 3600
              hiertcn tune --data prepared --model sknn --out runs/tune-sknn --trials 30
              hiertcn tune --data prepared --model hiertcn --out runs/tune --trials 10 --refit"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    p.add_argument("--model", choices=NEURAL + SIMPLE, default="hiertcn", help="default hiertcn")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the search (resumed if it exists)")
    add_budget_options(p)
    p.add_argument("--refit", action="store_true", help="retrain the best setting on training + validation "
                   "for its chosen number of epochs, then score the test split (OUT/refit)")
    add_model_options(p, recency_default=True)
    p.set_defaults(func=cmd_tune)


def add_budget_options(p):
    """`--trials`, `--timeout`, `--no-prune`."""
    g = p.add_argument_group("tuning budget")
    g.add_argument("--trials", type=int, default=20, metavar="N", help="trials per model (default 20)")
    g.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds per model after which no trial starts and a running one stops at its epoch end "
                   "(default: no limit)")
    g.add_argument("--no-prune", action="store_true", help="train every trial to early stopping")


def tune_config_of(args):
    from hiertcn_keras.training.tuning import TuneConfig

    return TuneConfig(trials=args.trials, timeout=args.timeout, monitor=args.monitor, seed=args.seed,
                      prune=not args.no_prune)


def budget_label(args):
    """The budget every tuned model got, for table captions."""
    limit = f", at most {args.timeout:g} s" if args.timeout else ""
    return (f"tuned on validation {args.monitor}: at most {args.trials} trials per model{limit} "
            "(the first trial of each is its default setting)")


def baseline_defaults(name):
    """A simple baseline's constructor defaults `{parameter: value}`."""
    import inspect

    from hiertcn_keras.models import baselines

    signature = inspect.signature(baselines.BASELINES[name])
    return {k: p.default for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}


def fit_baseline(dataset, name, params, item_embeddings=None):
    """A simple baseline fitted on `dataset`'s training split with constructor `params`."""
    from hiertcn_keras.models import baselines, item_vectors

    vectors = None
    if name in baselines.VECTOR_BASELINES and item_embeddings:
        vectors = item_vectors.load_item_vectors(item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    return baselines.fit_baseline(name, dataset, item_vectors=vectors, **params)


def tunable(name):
    """Whether a simple baseline has parameters to search (its class's `PARAMS`)."""
    from hiertcn_keras.models import baselines

    return bool(baselines.search_space(name))


def train_config_of(args, **changes):
    """The `TrainConfig` of the training flags of `args` (with `changes`)."""
    from hiertcn_keras.cli.common import schedule_overrides
    from hiertcn_keras.training.train_config import TrainConfig

    values = dict(epochs=args.epochs, patience=args.patience, monitor=args.monitor, seed=args.seed,
                  jit_compile=False if args.no_jit else "auto", verbose=2 if args.quiet else 1,
                  tie_policy=getattr(args, "tie_policy", "conservative"),
                  memory_check=not getattr(args, "no_memory_check", False), **schedule_overrides(args))
    if getattr(args, "time_limit", None) is not None:
        values["time_limit"] = 60.0 * args.time_limit
    values.update(changes)
    return TrainConfig(**values)


def model_setup(args, model):
    """`(dataset, ModelConfig, item matrix or None)` of the model flags of `args` for `model`."""
    from hiertcn_keras.cli.common import model_overrides
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors
    from hiertcn_keras.training.trainer import model_config_for

    dataset = PreparedDataset(args.data)
    matrix = None
    if args.item_space == "pretrained":
        if not args.item_embeddings:
            raise ValueError("--item-space pretrained needs --item-embeddings PATH (.npy)")
        matrix = load_item_vectors(args.item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    return dataset, model_config_for(dataset, **model_overrides(args, model)), matrix


def tune_neural_model(args, model, out, refit_out=None, refit_data=None):
    """Tune `model` into `out`; returns the best run's test metrics (refit ones with --refit).

    With `args.refit` the best setting is retrained into `refit_out` (default `out/refit`).
    """
    from hiertcn_keras.training.tuning import tune_neural

    _, config, matrix = model_setup(args, model)
    result = tune_neural(args.data, config, train_config_of(args), out, tune_config_of(args), item_matrix=matrix)
    metrics = result["test"]
    if getattr(args, "refit", False):
        refit_out = Path(out) / "refit" if refit_out is None else refit_out
        metrics = refit_run(args, Path(out) / "best", refit_out, matrix, refit_data)
        metrics.update(tuned_trials=result["n_trials"], tuned_params=result["best_params"])
    return metrics


def neural_result(args, name, out, seed=None):
    """`compare`'s test metrics of a neural model under `--tune` and/or `--refit`, for one seed.

    The first seed (`args.seed`) runs the search (`--tune`, into `out/NAME-tune`) or the
    selection run (`--refit` alone). Every other seed retrains the setting the search chose
    (or the flags' setting) from scratch with that seed, into `out/NAME.seed-S`: the model is
    tuned once and its chosen configuration is repeated over seeds. With `--refit` each
    seed's selection run is then refitted on training + validation.

    Returns:
        `(metrics, run)`: the test metrics and the run whose validation curve chose them (its
        training time and curve go into the table).
    """
    from hiertcn_keras.training.refit import refit_paths

    out = Path(out)
    seed = args.seed if seed is None else int(seed)
    if seed == args.seed:
        if args.tune:
            metrics = tune_neural_model(args, name, out / f"{name}-tune", out / name, out / "refit-data")
            return metrics, out / f"{name}-tune" / "best"
        return train_with_refit(args, name, out / name, out / "refit-data"), refit_paths(out / name)[0]
    seeded = argparse.Namespace(**{**vars(args), "seed": seed})
    run = out / f"{name}.seed-{seed}"
    if args.tune:
        return chosen_setting_run(seeded, name, out / f"{name}-tune" / "best", run, out / "refit-data")
    return train_with_refit(seeded, name, run, out / "refit-data"), refit_paths(run)[0]


def chosen_setting_run(args, name, chosen_run, out, refit_data=None):
    """The setting of a search's best run, retrained with `args.seed` into `out`.

    Without `args.refit` the run is trained with early stopping on validation and scored on
    the test split; with it, that run is the selection run (`refit_paths(out)[0]`) and the
    refit into `out` is scored.

    Returns:
        `(metrics, run)` as `neural_result`.
    """
    import json

    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.training.refit import refit_paths
    from hiertcn_keras.training.trainer import train

    record = json.loads((Path(chosen_run) / "config.json").read_text())
    config = ModelConfig.from_dict(record["model"]).replace(seed=args.seed)
    _, _, matrix = model_setup(args, name)
    refit = getattr(args, "refit", False)
    selection = refit_paths(out)[0] if refit else Path(out)
    print(f"== {name}: the chosen setting of {chosen_run} with seed {args.seed}", flush=True)
    _, _, metrics = train(args.data, config, train_config_of(args), selection, item_matrix=matrix,
                          evaluate_test=not refit)
    if refit:
        metrics = refit_run(args, selection, out, matrix, refit_data)
    return metrics, selection


def baseline_result(args, name, out):
    """`compare`'s test metrics of a simple baseline under `--tune` and/or `--refit`."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import evaluate_baseline

    out = Path(out)
    if args.tune and tunable(name):
        return tune_baseline_model(args, name, out / f"{name}-tune", refit_data=out / "refit-data")
    dataset = refit_dataset(args, out / "refit-data") if args.refit else PreparedDataset(args.data)
    metrics = evaluate_baseline(fit_baseline(dataset, name, {}, getattr(args, "item_embeddings", None)), dataset,
                                "test", name=name, tie_policy=args.tie_policy)
    metrics.update(refit=bool(args.refit))
    return metrics


def tune_baseline_model(args, name, out, dataset=None, refit_data=None):
    """Tune a simple baseline's parameters into `out`; returns its test metrics.

    With `args.refit` the best parameters are refitted on training + validation (the refit
    dataset at `refit_data`, default `out/refit-data`) and scored there.
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.baselines import categorical_space
    from hiertcn_keras.training.evaluate import evaluate_baseline
    from hiertcn_keras.training.tuning import tune_baseline

    if not tunable(name):
        raise ValueError(f"{name} has no parameters to tune")
    dataset = dataset or PreparedDataset(args.data)
    embeddings = getattr(args, "item_embeddings", None)
    result = tune_baseline(name, dataset, out, tune_config_of(args), space=categorical_space(name),
                           fit=lambda n, params: fit_baseline(dataset, n, params, embeddings),
                           tie_policy=getattr(args, "tie_policy", "conservative"), defaults=baseline_defaults(name))
    metrics = result["test"]
    if getattr(args, "refit", False):
        merged = refit_dataset(args, Path(out) / "refit-data" if refit_data is None else refit_data)
        metrics = evaluate_baseline(fit_baseline(merged, name, result["best_params"], embeddings), merged, "test",
                                    name=name, tie_policy=getattr(args, "tie_policy", "conservative"))
        metrics.update(tuned_params=result["best_params"], refit=True)
    return metrics


def refit_dataset(args, path):
    """The refit dataset of `args.data` at `path` (written once, then reused)."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.refit import refit_data_for

    return refit_data_for(PreparedDataset(args.data), path)[0]


def refit_run(args, selection_run, out, matrix=None, refit_data=None):
    """Refit `selection_run` on training + validation into `out`; returns its test metrics."""
    from hiertcn_keras.training.refit import refit

    print(f"refit: retraining {selection_run} on training + validation into {out}", flush=True)
    _, _, metrics = refit(args.data, selection_run, train_config_of(args), out, item_matrix=matrix,
                          refit_data=refit_data)
    return metrics


def train_with_refit(args, model, out, refit_data=None):
    """`train --refit`: the selection run (validation, early stopping) next to `out`, then the refit."""
    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.training.refit import refit_paths
    from hiertcn_keras.training.trainer import train

    selection = refit_paths(out)[0]
    inputs = [args.data, getattr(args, "item_embeddings", None)]
    for folder in (out, selection):
        output_guard.check_output(folder, "run", inputs=inputs, overwrite=getattr(args, "overwrite", False))
    _, config, matrix = model_setup(args, model)
    train(args.data, config, train_config_of(args, strategy=getattr(args, "strategy", "default")), selection,
          item_matrix=matrix, evaluate_test=False, overwrite=getattr(args, "overwrite", False))
    return refit_run(args, selection, out, matrix, refit_data)


def table_warnings(results):
    """Warn on stderr for every result that scores under half of its split's targets, or whose
    training was still improving at its last epoch.

    Returns:
        list of str: the warnings, also for a table's footnote.
    """
    lines = []
    for r in results:
        coverage = r.get("coverage")
        if isinstance(coverage, float) and coverage < COVERAGE_WARNING:
            lines.append(f"warning: {r.get('model')} scores only {coverage:.0%} of the {r.get('split', 'test')} "
                         f"targets ({r.get('n_scored')} of {r.get('n_targets')}); the others' items were not seen "
                         "in training (--refit adds the validation period's items)")
        if r.get("still_improving"):
            where = (f"epoch {r.get('best_epoch')} of a cap of {r['epoch_cap']}" if r.get("epoch_cap") is not None
                     else f"best epochs {r.get('best_epoch')} of {r.get('epochs')} trained, per seed")
            lines.append(f"warning: {r.get('model')} was still improving at its last epoch ({where}): not converged; "
                         "raise --epochs")
    for line in lines:
        print(line, file=sys.stderr)
    return lines


def cmd_tune(args):
    from hiertcn_keras.artifacts import atomic
    from hiertcn_keras.training.report import format_table

    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not (out / "study.db").is_file():
        raise ValueError(f"--out {out}: exists and is not a search written by `hiertcn tune` (nothing there is "
                         "replaced); choose another folder")
    if args.model in NEURAL:
        metrics = tune_neural_model(args, args.model, out)
    else:
        metrics = tune_baseline_model(args, args.model, out)
    table = format_table([metrics])
    table_warnings([metrics])
    print(table)
    print(budget_label(args))
    atomic.write_json(out / "result.json", metrics)
    best = out / ("refit" if args.refit and args.model in NEURAL else "best")
    print(f"trials in {out / 'trials.csv'}" + (f"; best run in {best}" if args.model in NEURAL else ""))
