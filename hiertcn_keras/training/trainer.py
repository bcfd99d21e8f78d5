"""`train`: fit a neural model on a prepared dataset and write its run directory.

The loop is Keras' own `fit` over the queue batches (tf.data and XLA on the TensorFlow backend,
a NumPy `PyDataset` on JAX and PyTorch, where TensorFlow need not be installed), with:
full-catalogue validation metrics every epoch, early stopping on a named metric with the best
weights restored, `BackupAndRestore` checkpoints so that a killed run started again with the
same command resumes where it stopped, TensorBoard logs and progress bars. The high-level state of every queue row is carried between batches inside the model and
reset exactly where a user starts.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from hiertcn_keras.artifacts import atomic
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.data.py_dataset import training_batches
from hiertcn_keras.data.splits import split_code
from hiertcn_keras.models import batch_choice
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training import callbacks as cb
from hiertcn_keras.training import memory_check
from hiertcn_keras.training import memory_reuse
from hiertcn_keras.training import progress as prog
from hiertcn_keras.training import resume
from hiertcn_keras.training.convergence import convergence_summary
from hiertcn_keras.training.evaluate import batcher_for, evaluate_recommender
from hiertcn_keras.training.keras_fit import loop_callbacks, padding_batch
from hiertcn_keras.training.optimizers import make_optimizer
from hiertcn_keras.training.ticker import still_working
from hiertcn_keras.training.recency_choice import apply_recency_choice, check_recency_choosable
from hiertcn_keras.artifacts.run_dir import (
    MODEL_FILE,
    git_commit,
    item_matrix_fingerprint,
    read_run_record,
)
from hiertcn_keras.training.model_file import load_model_file

def model_config_for(dataset, **overrides):
    """A `ModelConfig` sized for a prepared dataset (items, catalogue, session length).

    Without a `batch_size`, a hierarchical model's batch is picked from the number of training
    events (`batch_choice.default_batch_size`), halved while its estimated step does not fit
    the memory available now (never below `batch_choice.BASE_BATCH`), and, without a
    `learning_rate`, the rate is scaled with it (`batch_choice.scaled_learning_rate`); the
    config records `batch_by_default`. Arguments that are `None` are left to the defaults.
    """
    values = {"n_items": dataset.n_items, "n_catalogue": dataset.n_catalogue,
              "max_session_len": dataset.max_session_len}  # capped at the longest session present
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "batch_size" not in values and values.get("model", "hiertcn") in batch_choice.SCALED_MODELS:
        n_events = int(np.count_nonzero(dataset.events["split"] == split_code("train")))
        return _fitting_default_batch(values, batch_choice.default_batch_size(n_events, values.get("model", "hiertcn")))
    return ModelConfig(**values)


def _fitting_default_batch(values, batch):
    """The config with the rule's batch, halved (down to the base batch) until its step fits."""
    given_rate = "learning_rate" in values
    while True:
        rate = values["learning_rate"] if given_rate else batch_choice.scaled_learning_rate(batch)
        config = ModelConfig(**{**values, "batch_size": batch, "batch_by_default": True, "learning_rate": rate})
        if batch <= batch_choice.BASE_BATCH or memory_check.fits(config):
            return config
        batch //= 2


def _jit(train_config):
    if train_config.jit_compile == "auto":
        # Not under a strategy: the all-gather of sparse (embedding) gradients between workers
        # has no XLA CPU kernel (CollectiveGatherV2, measured with TF 2.21).
        # JAX compiles its step with jax.jit (without it every op is dispatched eagerly);
        # PyTorch stays eager (torch.compile costs minutes for small gains).
        return keras.backend.backend() == "jax" or (
            keras.backend.backend() == "tensorflow" and train_config.strategy == "default")
    return bool(train_config.jit_compile)


def train(data_dir, model_config, train_config, out_dir, *, item_matrix=None, evaluate_test=True, overwrite=False,
          callbacks=()):
    """Train a model and write `out_dir` (see `hiertcn_keras.artifacts.run_dir`).

    One device (`train_config.strategy="default"`): `train_single_device`; a `tf.distribute`
    strategy: `train_distributed`. Both share the loop below (`_start_run`, `_fit`, `_write_run`).
    First, the process keeps the memory a step frees for the next step
    (`memory_reuse.keep_freed_memory`: TensorFlow's pooled CPU allocator, glibc's trim threshold).

    Args:
        data_dir: str or Path. A prepared dataset folder.
        model_config: `ModelConfig`.
        train_config: `TrainConfig`.
        out_dir: str or Path. The run directory to create (replaced atomically).
        item_matrix: float array `[n_items, D]` for the pretrained item space, or `None`.
        evaluate_test: bool. Evaluate the test split at the end. Defaults to `True`.
        overwrite: bool. Replace an existing `out_dir` that is not a run directory, and discard
            a leftover checkpoint of other settings instead of refusing
            (`hiertcn_keras.training.resume`). Defaults to `False`.
        callbacks: more Keras callbacks, run after validation, the schedule and early stopping
            (a tuning trial's pruning, a refit's replayed learning rates). Defaults to none.

    Returns:
        `(model, history, metrics)`; the test metrics carry the convergence summary
        (`hiertcn_keras.training.convergence`) and `train_seconds`.
    """
    memory_reuse.keep_freed_memory()
    run = train_single_device if train_config.strategy == "default" else train_distributed
    return run(data_dir, model_config, train_config, out_dir, item_matrix=item_matrix, evaluate_test=evaluate_test,
               overwrite=overwrite, callbacks=callbacks)


@resume.discard_on_error
def train_single_device(data_dir, model_config, train_config, out_dir, *, item_matrix=None, evaluate_test=True,
                        overwrite=False, callbacks=()):
    """`train` on one device (arguments and result as for `train`)."""
    keras.utils.set_random_seed(train_config.seed)
    run = _start_run(data_dir, model_config, train_config, out_dir, item_matrix=item_matrix, overwrite=overwrite)
    dataset = run.dataset
    model = build_recommender(model_config, item_matrix=item_matrix, item_counts=dataset.item_counts("train"))
    model(run.padding)  # build on a padding batch
    model.compile(optimizer=make_optimizer(model_config), jit_compile=_jit(train_config))

    validation = [cb.RankingValidation(dataset, "valid", train_config.tie_policy)] if train_config.validate else []
    history_dict, train_seconds = _fit(model, run, train_config, validation,
                                       lambda epochs_done: training_batches(run.batcher, first_epoch=epochs_done),
                                       callbacks)
    quiet = train_config.verbose == 2  # a quiet run prints a line at least every minute
    with still_working("choosing the priors on the validation split", enabled=quiet):
        choice = apply_recency_choice(model, dataset, train_config)
    metrics = {}
    if evaluate_test:
        with still_working("scoring the test split (full catalogue)", enabled=quiet):
            metrics = evaluate_recommender(model, dataset, "test", tie_policy=train_config.tie_policy)
        metrics.update(_convergence(history_dict, train_config, train_seconds))
        _add_choice(metrics, choice)
    _write_run(out_dir, run, model, train_config, history_dict, metrics, train_seconds, item_matrix,
               overwrite=overwrite)
    return model, history_dict, metrics


@resume.discard_on_error
def train_distributed(data_dir, model_config, train_config, out_dir, *, item_matrix=None, evaluate_test=True,
                      overwrite=False, callbacks=()):
    """`train` under the `tf.distribute` strategy `train_config.strategy` (see `distribute`).

    `fitted` (b = B / N rows per replica) trains; `model`, its B-row twin, is validated and
    saved. Arguments and result as for `train`.
    """
    from hiertcn_keras.training import distribute

    strategy = distribute.make_strategy(train_config.strategy)  # before any TensorFlow op
    out_dir = distribute.worker_run_dir(out_dir, strategy)
    keras.utils.set_random_seed(train_config.seed)
    # A worker's failure is how a preempted peer shows up: keep the checkpoint to resume from.
    run = _start_run(data_dir, model_config, train_config, out_dir, item_matrix=item_matrix, overwrite=overwrite,
                     keep_on_error=True)
    dataset = run.dataset
    replicas = distribute.Replicas(strategy, model_config, item_matrix=item_matrix,
                                   item_counts=dataset.item_counts("train"))
    replicas.build(run.padding)
    replicas.compile(model_config.learning_rate, _jit(train_config))
    model, fitted = replicas.twin, replicas.model

    validation = []
    if train_config.validate:
        validation = [distribute.TwinValidation(replicas),
                      cb.RankingValidation(dataset, "valid", train_config.tie_policy, model=model),
                      distribute.AgreeOnLogs(strategy)]
    history_dict, train_seconds = _fit(fitted, run, train_config, validation,
                                       lambda epochs_done: replicas.dataset(run.batcher, first_epoch=epochs_done),
                                       callbacks)
    replicas.sync_twin()  # the final (or, with early stopping, the restored best) weights
    choice = apply_recency_choice(model, dataset, train_config)

    metrics = {}
    # Every worker ends with the same weights; only the chief scores the test split.
    if evaluate_test and distribute.worker_task(strategy)[2]:
        metrics = evaluate_recommender(model, dataset, "test", tie_policy=train_config.tie_policy)
        metrics.update(_convergence(history_dict, train_config, train_seconds))
        _add_choice(metrics, choice)
    _write_run(out_dir, run, model, train_config, history_dict, metrics, train_seconds, item_matrix,
               distribution=distribute.describe(strategy, replicas.layout), overwrite=overwrite)
    return model, history_dict, metrics


@dataclasses.dataclass
class _Run:
    """What both training functions share: the data, the batches and the `.partial` folder."""

    data_dir: Path
    dataset: PreparedDataset
    work: Path
    train_view: object
    batcher: object
    padding: dict


def _start_run(data_dir, model_config, train_config, out_dir, *, item_matrix, overwrite, keep_on_error=False):
    dataset = PreparedDataset(data_dir)
    if model_config.n_items != dataset.n_items or model_config.n_catalogue != dataset.n_catalogue:
        raise ValueError(
            f"model is sized for {model_config.n_items} items / catalogue {model_config.n_catalogue}, "
            f"the data has {dataset.n_items} / {dataset.n_catalogue}"
        )
    check_recency_choosable(model_config, train_config)
    # Before the model (or even a padding batch) allocates anything. Packed rows are B·T positions
    # (a distributed run trains on the [B, S, L] slots): first with the narrowest T, so that an
    # absurd batch size is refused before its batches are planned, then with the batches' own T.
    packed = train_config.strategy == "default" and model_config.hierarchical and model_config.packed_sessions
    if train_config.memory_check:
        memory_check.check_training_memory(model_config, row_width=memory_check.narrowest_row(model_config) if packed else None)
    train_view = dataset.view("train")
    batcher = batcher_for(model_config, train_view, shuffle=True, seed=train_config.seed, training=True)
    if train_config.memory_check and packed:
        memory_check.check_training_memory(model_config, row_width=memory_check.packed_row_width(batcher))
    work = resume.open_checkpoint(out_dir, resume.run_settings(model_config, train_config, dataset.fingerprint, item_matrix),
                                  overwrite=overwrite, inputs=(data_dir,), keep_on_error=keep_on_error)
    padding = padding_batch(batcher)
    return _Run(Path(data_dir), dataset, work, train_view, batcher, padding)


def _add_choice(metrics, choice):
    """The priors' validation choice (recency and transition), without its grid, in the test metrics."""
    if choice is not None:
        metrics["prior_choice"] = {k: v for k, v in choice.items() if k != "grid"}


def _convergence(history_dict, train_config, train_seconds):
    summary = convergence_summary(history_dict, train_config.monitor, train_config.epochs)
    if train_config.time_limit is not None:
        reached = history_dict.get("time_limit_reached", [0.0])[-1] == 1.0
        summary.update(time_limit_s=train_config.time_limit, stopped_by="time_limit" if reached else None)
    return {**summary, "train_seconds": round(train_seconds, 3)}


def _fit(fitted, run, train_config, validation, make_data, extra=()):
    """Keras `fit` with the project's callbacks; returns `(history dict, seconds)`.

    `validation` are the callbacks that add `val_*` logs; `make_data(epochs_done)` the batches;
    `extra` more callbacks after the schedule and early stopping.
    """
    callbacks = loop_callbacks(train_config, len(run.train_view), validation)
    callbacks.extend(extra)
    # A resumed run continues the epoch log and the sequence of seeded shuffles where the killed
    # run stopped (BackupAndRestore restores the weights, optimizer and epoch counter).
    progress = cb.ProgressLog(run.work / "progress.json")
    epochs_done = len(progress.epochs)
    callbacks.append(progress)
    data = make_data(epochs_done)
    callbacks.append(keras.callbacks.BackupAndRestore(str(run.work / "backup")))
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(run.work / "logs"), write_graph=False))
    callbacks.extend(_progress_callbacks(fitted, run, train_config, epochs_done))

    started = time.perf_counter()
    with warnings.catch_warnings():
        # The queue batcher yields a varying number of batches per epoch (so no fixed
        # steps_per_epoch), and the batch dict carries more keys than the user model reads.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        fitted.fit(data, epochs=train_config.epochs, callbacks=callbacks, shuffle=False,
                   verbose=train_config.verbose)
    return progress.as_history(), time.perf_counter() - started


def _progress_callbacks(fitted, run, train_config, epochs_done):
    """The run's first line, and the bar with a total (plus a line a minute when quiet)."""
    if not train_config.verbose:
        return []
    steps = prog.EpochSteps(run.batcher, epochs_done)
    events = len(run.train_view)
    print(prog.run_header(fitted.model_config, steps(epochs_done), events, len(np.unique(run.batcher.table.users))),
          flush=True)
    # Last, so that the epoch line shows the validation metrics added before it.
    callbacks = [prog.EpochTimeEstimate(steps), prog.BoundedProgbar(steps)]
    if train_config.verbose == 2:
        callbacks.append(prog.Heartbeat(steps, events / max(steps(epochs_done), 1), train_config.epochs))
    return callbacks


def _write_run(out_dir, run, model, train_config, history_dict, metrics, train_seconds, item_matrix,
               distribution=None, overwrite=False):
    model_config = model.model_config
    config_record = {
        "model": model_config.to_dict(),
        "train": dataclasses.asdict(train_config),
        "data": {"path": str(run.data_dir.resolve()), "fingerprint": run.dataset.fingerprint,
                 "protocol": run.dataset.protocol},
        "git_commit": git_commit(),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "train_seconds": round(train_seconds, 3),
        "train_events_per_epoch": len(run.train_view),
        # Which frozen item vectors a pretrained-space run was trained on (None: learned ids).
        "item_matrix_sha256": item_matrix_fingerprint(item_matrix),
    }
    if distribution is not None:
        config_record["distribution"] = distribution
    work = run.work
    with atomic.atomic_dir(out_dir, kind="run", force=overwrite) as tmp:
        model.save(tmp / "model.keras")
        atomic.write_json(tmp / "config.json", config_record)
        atomic.write_json(tmp / "history.json", history_dict)
        atomic.write_json(tmp / "metrics.json", metrics)
        if (work / "logs").exists():
            shutil.copytree(work / "logs", tmp / "logs")
    shutil.rmtree(work, ignore_errors=True)


def load_run(run_dir):
    """Load a run directory: `(model, config_record)`."""
    import hiertcn_keras.models  # noqa: F401  (registers the custom objects)

    record = read_run_record(run_dir)
    return load_model_file(Path(run_dir) / MODEL_FILE), record
