"""Hyper-parameter search on the validation split with Optuna (`hiertcn tune`, `compare --tune`).

Why Optuna rather than KerasTuner: the same study drives the neural models *and* the simple
baselines (whose parameters are not Keras hyper-parameters), its TPE sampler handles
conditional and log-scaled spaces, its median pruner stops trials whose validation curve is
already below the median of earlier trials at the same epoch, and its SQLite storage lets a
killed search resume where it stopped.

The first trial of a new search is the model's default setting (so a search never ends below
the defaults on validation); the sampler proposes the others. A neural trial trains with the
usual loop (early stopping on the validation split, best
weights restored) into `OUT/trials/trial-NNNN` (a normal run directory, validation only) and
scores its best validation metric. Every finished trial (complete, pruned or failed) is added
to `OUT/trials.json` and `OUT/trials.csv` at once, atomically. The budget is a number of
trials and a time limit: no trial starts after the limit, and a running trial stops at the end
of the epoch that crosses it (keeping its best weights). The best trial's run is then scored
on the test split and copied to `OUT/best`, a run directory that `hiertcn evaluate` reads.
The test split never takes part in the choice.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import shutil
import time
from pathlib import Path

import keras

from hiertcn_keras.artifacts import atomic

# Search spaces: name → (kind, arguments). `log` floats are sampled on a log scale.
NEURAL_SPACE = {
    "learning_rate": ("float", 1e-3, 1e-2, True),
    "dropout": ("float", 0.0, 0.4, False),
    "embedding_dropout": ("float", 0.0, 0.4, False),
    "weight_decay": ("categorical", (0.0, 1e-4, 1e-3, 1e-2)),
    "tied_embeddings": ("categorical", (False, True)),
    "embedding_dim": ("categorical", (64, 128)),
}
@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """The budget and target of a search.

    Args:
        trials: int. Maximum number of trials. Defaults to 20.
        timeout: float or `None`. Seconds after which no trial starts (and a running neural
            trial stops at its next epoch end). Defaults to `None` (trials only).
        monitor: str. The validation metric maximised (`recall@10`, `mrr`, ...). Defaults to
            `recall@10`.
        seed: int. The sampler's seed. Defaults to 0.
        prune: bool. Median pruning of neural trials (after 2 epochs, from the 4th trial on).
            Defaults to `True`.
    """

    trials: int = 20
    timeout: float | None = None
    monitor: str = "recall@10"
    seed: int = 0
    prune: bool = True

    def __post_init__(self):
        if self.trials < 1:
            raise ValueError(f"trials must be ≥ 1, got {self.trials}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.monitor in ("loss", "mrp"):
            raise ValueError(f"tune maximises a ranking metric; {self.monitor!r} is lower-is-better")


def neural_space(config):
    """`NEURAL_SPACE` less what does not apply to `config` (the pretrained item space has fixed
    item vectors: no embedding size, no tying, no embedding dropout; GRU4Rec is tied by
    definition)."""
    if config.item_space == "pretrained":
        return {k: v for k, v in NEURAL_SPACE.items()
                if k not in ("tied_embeddings", "embedding_dim", "embedding_dropout")}
    if config.model == "gru4rec":
        return {k: v for k, v in NEURAL_SPACE.items() if k != "tied_embeddings"}
    return dict(NEURAL_SPACE)


def suggest(trial, space):
    """Draw one setting of `space` from an Optuna trial: `{name: value}`."""
    values = {}
    for name, (kind, *args) in space.items():
        if kind == "float":
            low, high, log = args
            values[name] = trial.suggest_float(name, low, high, log=log)
        else:
            values[name] = trial.suggest_categorical(name, list(args[0]))
    return values


class TrialReporter(keras.callbacks.Callback):
    """Reports each epoch's validation metric to an Optuna trial; prunes and keeps the deadline.

    Stopping (pruned, or past the deadline) ends training at this epoch; `EarlyStopping` then
    restores the best weights as usual, and `pruned` says why it stopped.

    Args:
        trial: `optuna.Trial`.
        monitor: str. Metric name without `val_`.
        deadline: float or `None`. `time.monotonic()` value after which training stops.
        prune: bool. Ask the trial whether to prune after each report.
    """

    def __init__(self, trial, monitor, deadline=None, prune=True):
        super().__init__()
        self.trial, self.monitor, self.deadline, self.prune = trial, monitor, deadline, prune
        self.pruned = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(f"val_{self.monitor}")
        if value is None or math.isnan(value):
            return
        self.trial.report(float(value), epoch)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.model.stop_training = True


class TrialLog:
    """`trials.json` and `trials.csv` of a search, rewritten atomically after each trial.

    Args:
        out_dir: Path. The search's folder.
    """

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.rows = []

    def add(self, row):
        self.rows.append(row)
        atomic.write_json(self.out_dir / "trials.json", self.rows)
        keys = []
        for r in self.rows:
            keys.extend(k for k in _flat(r) if k not in keys)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        for r in self.rows:
            writer.writerow(_flat(r))
        with atomic.atomic_file(self.out_dir / "trials.csv") as f:
            f.write(buffer.getvalue())


def _flat(row):
    out = {k: v for k, v in row.items() if not isinstance(v, dict)}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update({f"{k}.{name}": value for name, value in v.items()})
    return out


def _set_attrs(trial, values):
    for key, value in values.items():
        trial.set_user_attr(key, value)


def _study(out_dir, tune_config, name, sampler=None):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1) if tune_config.prune
              else optuna.pruners.NopPruner())
    return optuna.create_study(
        study_name=name, direction="maximize", storage=f"sqlite:///{Path(out_dir).resolve() / 'study.db'}",
        load_if_exists=True, sampler=sampler or optuna.samplers.TPESampler(seed=tune_config.seed), pruner=pruner,
    )


def _in_space(values, space):
    """The entries of `values` that are valid points of `space` (a default to try first)."""
    valid = {}
    for name, (kind, *args) in space.items():
        value = values.get(name)
        if kind == "float" and isinstance(value, (int, float)) and args[0] <= value <= args[1]:
            valid[name] = float(value)
        elif kind == "categorical" and value in args[0]:
            valid[name] = value
    return valid


def _run_study(study, objective, tune_config, log, first=None):
    """`study.optimize` under the budget, logging every finished trial.

    `first`: settings to try as the first trial of a new study (the defaults, so that a search
    never ends below them on validation); they must cover the whole space to be used.
    """
    import optuna

    if first and not study.trials:
        study.enqueue_trial(first)
    def record(study, trial):
        log.add({"number": trial.number, "state": trial.state.name, "value": trial.value,
                 "params": dict(trial.params), **trial.user_attrs})

    done = sum(t.state.is_finished() for t in study.trials)
    if done >= tune_config.trials:
        return
    study.optimize(objective, n_trials=tune_config.trials - done, timeout=tune_config.timeout,
                   callbacks=[record], catch=(ValueError, RuntimeError), gc_after_trial=True)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise ValueError(f"no trial of {log.out_dir} completed; see {log.out_dir / 'trials.json'}")


def tune_neural(data_dir, base_config, train_config, out_dir, tune_config, *, item_matrix=None, space=None):
    """Search a neural model's hyper-parameters on the validation split; keep the best run.

    Args:
        data_dir: str or Path. A prepared dataset.
        base_config: `ModelConfig`. The settings every trial starts from.
        train_config: `TrainConfig`. The training loop of every trial (epoch cap, patience,
            schedule; `validate` must be on).
        out_dir: str or Path. The search's folder (created; an existing search there resumes).
        tune_config: `TuneConfig`.
        item_matrix: float array for the pretrained item space, or `None`.
        space: dict. The search space (see `NEURAL_SPACE`). Defaults to `neural_space(base_config)`.

    Returns:
        dict: `best_params`, `best_value` (validation), `best_trial`, `n_trials`, and
        `test` (the best run's test metrics); `OUT/best` is that run.
    """
    import optuna

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import evaluate_recommender
    from hiertcn_keras.training.trainer import load_run, train

    if not train_config.validate:
        raise ValueError("tuning needs the validation split (train_config.validate)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    space = neural_space(base_config) if space is None else space
    deadline = None if tune_config.timeout is None else time.monotonic() + tune_config.timeout
    train_config = dataclasses.replace(train_config, monitor=tune_config.monitor)
    log = TrialLog(out_dir)

    def objective(trial):
        values = suggest(trial, space)
        if "embedding_dim" in values:
            values["output_dim"] = values["embedding_dim"]
        config = base_config.replace(**values)
        reporter = TrialReporter(trial, tune_config.monitor, deadline, tune_config.prune)
        started = time.perf_counter()
        run = out_dir / "trials" / f"trial-{trial.number:04d}"
        _, history, _ = train(data_dir, config, train_config, run, item_matrix=item_matrix,
                              evaluate_test=False, callbacks=[reporter])
        from hiertcn_keras.training.convergence import convergence_summary

        summary = convergence_summary(history, tune_config.monitor, train_config.epochs)
        best = summary["best_epoch"]
        _set_attrs(trial, {
            "run": str(run), "seconds": round(time.perf_counter() - started, 1), **summary,
            "validation": {k[4:]: v[best - 1] for k, v in history.items() if k.startswith("val_")} if best else {},
        })
        if reporter.pruned:
            raise optuna.TrialPruned()
        return summary[f"best_val_{tune_config.monitor}"]

    study = _study(out_dir, tune_config, f"{base_config.model}")
    first = _in_space(dataclasses.asdict(base_config), space)
    _run_study(study, objective, tune_config, log, first if len(first) == len(space) else None)
    best = study.best_trial
    model, _ = load_run(best.user_attrs["run"])
    test = evaluate_recommender(model, PreparedDataset(data_dir), "test", tie_policy=train_config.tie_policy)
    summary_keys = ("epochs_trained", "epoch_cap", "best_epoch", f"best_val_{tune_config.monitor}", "still_improving")
    test.update({k: best.user_attrs.get(k) for k in summary_keys}, tuned_trials=len(study.trials))
    with atomic.atomic_dir(out_dir / "best") as tmp:
        for name in ("model.keras", "config.json", "history.json"):
            shutil.copy2(Path(best.user_attrs["run"]) / name, tmp / name)
        record = json.loads((tmp / "config.json").read_text())
        record["tuning"] = {"trial": best.number, "value": best.value, "params": best.params,
                            "monitor": tune_config.monitor, "budget": dataclasses.asdict(tune_config)}
        atomic.write_json(tmp / "config.json", record)
        atomic.write_json(tmp / "metrics.json", test)
    result = {"best_trial": best.number, "best_value": best.value, "best_params": best.params,
              "n_trials": len(study.trials), "test": test}
    atomic.write_json(out_dir / "best.json", result)
    return result


def tune_baseline(name, dataset, out_dir, tune_config, *, fit, space, tie_policy="conservative",
                  defaults=None):
    """Search a simple baseline's parameters on the validation split.

    The space is a small grid, visited in a seeded random order: every setting when the trial
    budget covers the grid, else `trials` distinct ones.

    Args:
        name: str. The baseline's name.
        dataset: `PreparedDataset`.
        out_dir: str or Path. The search's folder (trials files and `best.json`).
        tune_config: `TuneConfig`.
        fit: callable `(name, params) -> fitted baseline` (fit on the training split).
        space: dict `{parameter: ("categorical", values)}` (the baseline class's `PARAMS`,
            `hiertcn_keras.models.baselines.categorical_space`).
        tie_policy: str. Defaults to `conservative`.
        defaults: dict or `None`. The baseline's default parameters, tried first.

    Returns:
        dict as `tune_neural`'s (`test`: the best setting's test metrics).
    """
    from hiertcn_keras.training.evaluate import evaluate_baseline

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = TrialLog(out_dir)
    import optuna

    grid = {key: list(args[0]) for key, (_, *args) in space.items()}
    budget = dataclasses.replace(tune_config, trials=min(tune_config.trials, math.prod(map(len, grid.values()))))

    def objective(trial):
        params = suggest(trial, space)
        started = time.perf_counter()
        valid = evaluate_baseline(fit(name, params), dataset, "valid", name=name, tie_policy=tie_policy)
        _set_attrs(trial, {"seconds": round(time.perf_counter() - started, 1),
                           "validation": {k: v for k, v in valid.items() if isinstance(v, float)}})
        return valid[tune_config.monitor]

    # A grid in random order: distinct settings, all of them when the budget allows.
    study = _study(out_dir, budget, name, optuna.samplers.GridSampler(grid, seed=tune_config.seed))
    first = _in_space(defaults or {}, space)
    _run_study(study, objective, budget, log, first if len(first) == len(space) else None)
    best = study.best_trial
    test = evaluate_baseline(fit(name, best.params), dataset, "test", name=name, tie_policy=tie_policy)
    test.update(tuned_trials=len(study.trials), tuned_params=best.params)
    result = {"best_trial": best.number, "best_value": best.value, "best_params": best.params,
              "n_trials": len(study.trials), "test": test}
    atomic.write_json(out_dir / "best.json", result)
    return result
