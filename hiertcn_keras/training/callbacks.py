"""Keras callbacks of the training loop."""

from __future__ import annotations

import time

import keras


class RankingValidation(keras.callbacks.Callback):
    """Full-catalogue ranking metrics on the validation split at the end of every epoch.

    The metrics land in the epoch logs as `val_recall@10`, `val_mrr`, ... so that
    `EarlyStopping`, `History` and `TensorBoard` see them.

    Args:
        dataset: `PreparedDataset`.
        split: str. Defaults to `"valid"`.
        tie_policy: str. Defaults to `"conservative"`.
        every: int. Evaluate every `every` epochs (and always at the last). Defaults to 1.
    """

    def __init__(self, dataset, split="valid", tie_policy="conservative", every=1):
        super().__init__()
        self.dataset, self.split, self.tie_policy, self.every = dataset, split, tie_policy, every

    def on_epoch_end(self, epoch, logs=None):
        from hiertcn_keras.training.evaluate import evaluate_recommender

        if logs is None or (epoch + 1) % self.every:
            return
        started = time.perf_counter()
        result = evaluate_recommender(self.model, self.dataset, self.split, tie_policy=self.tie_policy)
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
