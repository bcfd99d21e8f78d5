"""`train`: fit a neural model on a prepared dataset and write its run directory.

The loop is Keras' own `fit` over the tf.data queue batches (XLA-compiled on the TensorFlow
backend), with: full-catalogue validation metrics every epoch, early stopping on a named
metric with the best weights restored, `BackupAndRestore` checkpoints so that a killed run
started again with the same command resumes where it stopped, TensorBoard logs and progress
bars. The high-level state of every queue row is carried between batches inside the model and
reset exactly where a user starts.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from hiertcn_keras import atomic
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training import callbacks as cb
from hiertcn_keras.training.convergence import convergence_summary
from hiertcn_keras.training.evaluate import batcher_for, evaluate_recommender
from hiertcn_keras.training.optimizers import SCHEDULES, make_optimizer, monitor_mode, schedule_callbacks
from hiertcn_keras.training.run_dir import git_commit, item_matrix_fingerprint, partial_dir

STRATEGIES = ("default", "mirrored", "multi-worker")
METRIC_KEYS = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "mrp", "ndcg@10")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of the training loop.

    Args:
        epochs: int. Maximum epochs (a cap: early stopping on the validation split ends the run
            when it stops improving). Defaults to 50.
        monitor: str. Validation metric for early stopping (`recall@10`, `mrr`, ... or `loss`).
            Defaults to `recall@10`.
        patience: int. Epochs without improvement before stopping. Defaults to 3.
        lr_schedule: str. `plateau` (multiply the learning rate by `lr_factor` after
            `lr_patience` epochs without improvement of the monitored metric) or `constant`;
            see `hiertcn_keras.training.optimizers`. Defaults to `plateau`.
        lr_factor: float in (0, 1). Defaults to 0.3.
        lr_patience: int. Defaults to 1.
        min_lr: float. Defaults to 1e-5.
        jit_compile: bool or `"auto"`. XLA; `"auto"` = on for the TensorFlow backend without a
            strategy. Defaults to `"auto"`.
        tie_policy: str. Defaults to `conservative`.
        validate: bool. Evaluate the validation split every epoch. Defaults to `True`.
        verbose: int. Keras progress: 0 silent, 1 bar, 2 one line per epoch. Defaults to 1.
        seed: int. Shuffling and initialisation seed. Defaults to 0.
        strategy: str. `default` (one device), `mirrored` (every local GPU, or every logical
            CPU device) or `multi-worker` (the machines of `TF_CONFIG`); see
            `hiertcn_keras.training.distribute` and docs/distributed.md. The model's
            `batch_size` stays the global batch: each of N replicas carries B / N rows.
            Defaults to `default`.
    """

    epochs: int = 50
    monitor: str = "recall@10"
    patience: int = 3
    lr_schedule: str = "plateau"
    lr_factor: float = 0.3
    lr_patience: int = 1
    min_lr: float = 1e-5
    jit_compile: object = "auto"
    tie_policy: str = "conservative"
    validate: bool = True
    verbose: int = 1
    seed: int = 0
    strategy: str = "default"

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.monitor not in METRIC_KEYS + ("loss",):
            raise ValueError(f"monitor must be one of {METRIC_KEYS + ('loss',)}, got {self.monitor!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 < self.lr_factor < 1 or self.lr_patience < 1 or self.min_lr < 0:
            raise ValueError(f"need 0 < lr_factor < 1, lr_patience ≥ 1 and min_lr ≥ 0, got {self.lr_factor}, "
                             f"{self.lr_patience}, {self.min_lr}")


def model_config_for(dataset, **overrides):
    """A `ModelConfig` sized for a prepared dataset (items, catalogue, session length)."""
    values = {"n_items": dataset.n_items, "n_catalogue": dataset.n_catalogue,
              "max_session_len": dataset.max_session_len}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ModelConfig(**values)


def _jit(train_config):
    if train_config.jit_compile == "auto":
        # Not under a strategy: the all-gather of sparse (embedding) gradients between workers
        # has no XLA CPU kernel (CollectiveGatherV2, measured with TF 2.21).
        return keras.backend.backend() == "tensorflow" and train_config.strategy == "default"
    return bool(train_config.jit_compile)


def train(data_dir, model_config, train_config, out_dir, *, item_matrix=None, evaluate_test=True, callbacks=()):
    """Train a model and write `out_dir` (see `hiertcn_keras.training.run_dir`).

    Args:
        data_dir: str or Path. A prepared dataset folder.
        model_config: `ModelConfig`.
        train_config: `TrainConfig`.
        out_dir: str or Path. The run directory to create (replaced atomically).
        item_matrix: float array `[n_items, D]` for the pretrained item space, or `None`.
        evaluate_test: bool. Evaluate the test split at the end. Defaults to `True`.
        callbacks: more Keras callbacks, run after validation and the schedule (a tuning
            trial's pruning, a refit's replayed learning rates). Defaults to none.

    Returns:
        `(model, history, metrics)`.
    """
    from hiertcn_keras.data.pipeline import make_dataset

    strategy = None
    if train_config.strategy != "default":
        from hiertcn_keras.training import distribute

        strategy = distribute.make_strategy(train_config.strategy)  # before any TensorFlow op
        out_dir = distribute.worker_run_dir(out_dir, strategy)
    keras.utils.set_random_seed(train_config.seed)
    dataset = PreparedDataset(data_dir)
    if model_config.n_items != dataset.n_items or model_config.n_catalogue != dataset.n_catalogue:
        raise ValueError(
            f"model is sized for {model_config.n_items} items / catalogue {model_config.n_catalogue}, "
            f"the data has {dataset.n_items} / {dataset.n_catalogue}"
        )
    work = partial_dir(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    train_view = dataset.view("train")
    batcher = batcher_for(model_config, train_view, shuffle=True, seed=train_config.seed)
    units = model_config.sessions_per_batch if model_config.hierarchical else 1
    padding = batcher.table.gather(np.full((model_config.batch_size, units), -1))
    if strategy is None:
        model = build_recommender(model_config, item_matrix=item_matrix, item_counts=dataset.item_counts("train"))
        model(padding)  # build on a padding batch
        model.compile(optimizer=make_optimizer(model_config), jit_compile=_jit(train_config))
        fitted = model
    else:
        # `fitted` (b = B / N rows per replica) trains; `model`, its B-row twin, is validated and saved.
        replicas = distribute.Replicas(strategy, model_config, item_matrix=item_matrix,
                                       item_counts=dataset.item_counts("train"))
        replicas.build(padding)
        replicas.compile(model_config.learning_rate, _jit(train_config))
        model, fitted = replicas.twin, replicas.model
    model_config = model.model_config

    extra_callbacks, callbacks = list(callbacks), [cb.EpochTimer(len(train_view))]
    if train_config.validate:
        if strategy is None:
            callbacks.append(cb.RankingValidation(dataset, "valid", train_config.tie_policy))
        else:
            callbacks.append(distribute.TwinValidation(replicas))
            callbacks.append(cb.RankingValidation(dataset, "valid", train_config.tie_policy, model=model))
            callbacks.append(distribute.AgreeOnLogs(strategy))
        monitor = f"val_{train_config.monitor}"
        callbacks.extend(schedule_callbacks(train_config))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=monitor_mode(train_config.monitor),
            patience=train_config.patience, restore_best_weights=True, verbose=1 if train_config.verbose else 0,
        ))
    callbacks.extend(extra_callbacks)
    # A resumed run continues the epoch log and the sequence of seeded shuffles where the killed
    # run stopped (BackupAndRestore restores the weights, optimizer and epoch counter).
    progress = cb.ProgressLog(work / "progress.json")
    epochs_done = len(progress.epochs)
    callbacks.append(progress)
    if strategy is None:
        data = make_dataset(batcher, first_epoch=epochs_done)
    else:
        data = replicas.dataset(batcher, first_epoch=epochs_done)
    callbacks.insert(0, cb.ExactOptimizerSteps())
    callbacks.append(keras.callbacks.BackupAndRestore(str(work / "backup")))
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(work / "logs"), write_graph=False))

    started = time.perf_counter()
    with warnings.catch_warnings():
        # The queue batcher yields a varying number of batches per epoch (so no fixed
        # steps_per_epoch), and the batch dict carries more keys than the user model reads.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        fitted.fit(data, epochs=train_config.epochs, callbacks=callbacks, shuffle=False,
                   verbose=train_config.verbose)
    train_seconds = time.perf_counter() - started
    if strategy is not None:
        replicas.sync_twin()  # the final (or, with early stopping, the restored best) weights
    history_dict = progress.as_history()

    metrics = {}
    if strategy is not None:
        # Every worker ends with the same weights; only the chief scores the test split.
        evaluate_test = evaluate_test and distribute.worker_task(strategy)[2]
    if evaluate_test:
        metrics = evaluate_recommender(model, dataset, "test", tie_policy=train_config.tie_policy)
        metrics.update(convergence_summary(history_dict, train_config.monitor, train_config.epochs),
                       train_seconds=round(train_seconds, 3))
    config_record = {
        "model": model_config.to_dict(),
        "train": dataclasses.asdict(train_config),
        "data": {"path": str(Path(data_dir).resolve()), "fingerprint": dataset.fingerprint,
                 "protocol": dataset.protocol},
        "git_commit": git_commit(),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "train_seconds": round(train_seconds, 3),
        "train_events_per_epoch": len(train_view),
        # Which frozen item vectors a pretrained-space run was trained on (None: learned ids).
        "item_matrix_sha256": item_matrix_fingerprint(item_matrix),
    }
    if strategy is not None:
        config_record["distribution"] = distribute.describe(strategy, replicas.layout)
    with atomic.atomic_dir(out_dir) as tmp:
        model.save(tmp / "model.keras")
        atomic.write_json(tmp / "config.json", config_record)
        atomic.write_json(tmp / "history.json", history_dict)
        atomic.write_json(tmp / "metrics.json", metrics)
        if (work / "logs").exists():
            shutil.copytree(work / "logs", tmp / "logs")
    shutil.rmtree(work, ignore_errors=True)
    return model, history_dict, metrics


def load_run(run_dir):
    """Load a run directory: `(model, config_record)`."""
    import hiertcn_keras.models  # noqa: F401  (registers the custom objects)

    run_dir = Path(run_dir)
    if not (run_dir / "model.keras").is_file():
        raise FileNotFoundError(f"{run_dir}: no model.keras; is this a run directory written by `hiertcn train`?")
    model = keras.models.load_model(run_dir / "model.keras")
    return model, json.loads((run_dir / "config.json").read_text())
