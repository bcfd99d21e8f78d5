"""Keras callbacks of the training loop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from hiertcn_keras.artifacts import atomic


class RankingValidation(keras.callbacks.Callback):
    """Full-catalogue ranking metrics on the validation split at the end of every epoch.

    The metrics land in the epoch logs as `val_recall@10`, `val_mrr`, ... so that
    `EarlyStopping`, `History` and `TensorBoard` see them.

    Args:
        dataset: `PreparedDataset`.
        split: str. Defaults to `"valid"`.
        tie_policy: str. Defaults to `"conservative"`.
        every: int. Evaluate every `every` epochs (and always at the last). Defaults to 1.
        model: `Recommender` to evaluate instead of the model being trained (a distributed
            run evaluates the single-device twin of its replicas). Defaults to `None`.
    """

    def __init__(self, dataset, split="valid", tie_policy="conservative", every=1, *, model=None):
        super().__init__()
        self.dataset, self.split, self.tie_policy, self.every = dataset, split, tie_policy, every
        self.evaluated = model

    def on_epoch_end(self, epoch, logs=None):
        from hiertcn_keras.training.evaluate import evaluate_recommender

        if logs is None or (epoch + 1) % self.every:
            return
        started = time.perf_counter()
        model = self.model if self.evaluated is None else self.evaluated
        result = evaluate_recommender(model, self.dataset, self.split, tie_policy=self.tie_policy)
        for key, value in result.items():
            if isinstance(value, float):
                logs[f"val_{key}"] = value
        logs["val_seconds"] = time.perf_counter() - started


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` and `events_per_second` (training events) to the epoch logs."""

    def __init__(self, events_per_epoch):
        super().__init__()
        self.events_per_epoch = events_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            seconds = time.perf_counter() - self._started
            logs["epoch_seconds"] = seconds
            logs["events_per_second"] = self.events_per_epoch / max(seconds, 1e-9)


class TimeLimit(keras.callbacks.Callback):
    """Stops training at the end of the first step that ends `seconds` after training began.

    Keras then ends the epoch as usual (its validation and early stopping run on the partial
    epoch). Every epoch's logs get `time_limit_reached` (1.0 on the epoch where it stopped,
    else 0.0).

    Args:
        seconds: float > 0.
        verbose: bool. Print a line when the limit stops the run. Defaults to `True`.
    """

    def __init__(self, seconds, verbose=True):
        super().__init__()
        self.seconds, self.verbose, self.reached = float(seconds), bool(verbose), False

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if not self.reached and time.perf_counter() - self._started >= self.seconds:
            self.reached = True
            self.model.stop_training = True
            if self.verbose:
                print(f"time limit of {self.seconds:,.0f} s reached after step {batch + 1} of this epoch: "
                      "stopping (the partial epoch is validated, the best weights kept)", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["time_limit_reached"] = float(self.reached)


class ProgressLog(keras.callbacks.Callback):
    """Appends every epoch's logs to a JSON file, so that a resumed run keeps the whole history.

    Args:
        path: str or Path. The file; epochs already in it (from a killed run) are kept.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.epochs = json.loads(self.path.read_text()) if self.path.is_file() else []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({k: float(v) for k, v in (logs or {}).items()})
        atomic.write_json(self.path, self.epochs)

    def as_history(self):
        """`{metric: [value per epoch]}` over every epoch, resumed ones included."""
        keys = []
        for logs in self.epochs:
            keys.extend(k for k in logs if k not in keys)
        return {k: [logs.get(k, float("nan")) for logs in self.epochs] for k in keys}


class ExactOptimizerSteps(keras.callbacks.Callback):
    """Ends every epoch with the optimizer's step count equal to the batches it trained on.

    The queue batcher's epochs vary in length, so `fit` runs without `steps_per_epoch` and
    ends each epoch with one more training call, the one that finds the data exhausted. Without
    XLA, that call's increment of `optimizer.iterations` (Adam's bias-correction step) does not
    wait for the data and runs anyway (measured with Keras 3.15 / TF 2.21: 3,092 steps counted
    for 2 × 1,545 batches; with XLA, 3,090), and under a `tf.distribute` strategy it runs on
    some workers and not others. Setting the count at every epoch end makes it the same with
    and without XLA, in one process and on every worker. Place it before `BackupAndRestore`, so
    checkpoints hold the corrected count.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = int(self.model.optimizer.iterations.numpy()), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.model.optimizer.iterations.assign(self.start + self.steps)
