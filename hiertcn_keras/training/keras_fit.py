"""The pieces of `hiertcn train`'s loop, for training a model with your own `model.fit` call.

`train` (in `trainer`) is `build_recommender` + `compile` + Keras `fit` plus run-directory
bookkeeping (checkpoints to resume from, TensorBoard logs, the atomic run folder). This module
exposes the parts that decide *what is learned*, so that a script or a notebook can write the
loop itself, keras.io style, and get the same model as `hiertcn train` with the same seed:

    config = model_config_for(dataset, model="hiertcn")
    keras.utils.set_random_seed(0)
    model = build_recommender(config, item_counts=dataset.item_counts("train"))
    data, sample = training_data(dataset, model.model_config, seed=0)
    model(sample)                      # build the weights, then model.summary()
    model.compile(optimizer=make_optimizer(model.model_config))
    history = model.fit(data, epochs=10, shuffle=False, callbacks=fit_callbacks(dataset, TrainConfig(epochs=10)))

`fit` must get `shuffle=False`: each row's high-level state is carried from batch to batch, and
the batches are already shuffled by user (a fresh seeded order every epoch).
"""

from __future__ import annotations

import keras
import numpy as np

from hiertcn_keras.data.py_dataset import training_batches
from hiertcn_keras.training import callbacks as cb
from hiertcn_keras.training.evaluate import batcher_for
from hiertcn_keras.training.optimizers import monitor_mode, schedule_callbacks


def training_data(dataset, model_config, *, seed=0, first_epoch=0):
    """The training split as `fit` reads it, and an all-padding batch to build a model on.

    Args:
        dataset: `PreparedDataset`.
        model_config: `ModelConfig` (batch geometry: `batch_size`, `sessions_per_batch` or the
            flat window).
        seed: int. Seed of the per-epoch user shuffle. Defaults to 0.
        first_epoch: int. Epoch number of the first pass (a resumed run continues the sequence
            of shuffles). Defaults to 0.

    Returns:
        `(data, sample)`: `data` is a `tf.data.Dataset` on the TensorFlow backend (else a
        `keras.utils.PyDataset`) of batch dicts (`items`, `inputs` `[B, S, L]` int32, `gap`,
        `user_start`, `score`, ...; `[B, T]` for flat models; HierTCN with `packed_sessions`,
        the default, gets the batch's sessions end to end, `[B, T]` events with their `slot`,
        `hiertcn_keras.data.session_packing`); `sample` is one batch of that
        structure holding only padding (calling the model on it builds every weight and
        changes nothing).
    """
    batcher = batcher_for(model_config, dataset.view("train"), shuffle=True, seed=seed, training=True)
    return training_batches(batcher, first_epoch=first_epoch), padding_batch(batcher)


def padding_batch(batcher):
    """One batch of `batcher`'s structure holding only padding (builds a model, changes nothing)."""
    return batcher.table.gather(np.full((batcher.batch_size, batcher.units_per_batch), -1))


def loop_callbacks(train_config, events_per_epoch, validation=()):
    """The callbacks that shape training, in `train`'s order.

    Args:
        train_config: `TrainConfig` (reads `validate`, `monitor`, `patience`, the schedule).
        events_per_epoch: int. Training events per epoch (for `events_per_second`).
        validation: callbacks that add the `val_*` logs (e.g. `RankingValidation`).

    Returns:
        list: exact optimizer step counts, the epoch timer (`epoch_seconds`,
        `events_per_second` in the logs), `validation`, then with validation the learning-rate
        schedule and early stopping on `val_<monitor>` with the best weights restored.
    """
    callbacks = [cb.ExactOptimizerSteps(), cb.EpochTimer(events_per_epoch), *validation]
    if train_config.time_limit is not None:  # before the schedule and early stopping read the logs
        callbacks.insert(0, cb.TimeLimit(train_config.time_limit, verbose=bool(train_config.verbose)))
    if train_config.validate:
        callbacks.extend(schedule_callbacks(train_config))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=f"val_{train_config.monitor}", mode=monitor_mode(train_config.monitor),
            patience=train_config.patience, restore_best_weights=True, verbose=1 if train_config.verbose else 0,
        ))
    return callbacks


def fit_callbacks(dataset, train_config, split="valid"):
    """`loop_callbacks` with full-catalogue ranking validation on `split` every epoch.

    Args:
        dataset: `PreparedDataset`.
        train_config: `TrainConfig`.
        split: str. The validation split. Defaults to `"valid"`.

    Returns:
        list of Keras callbacks for `model.fit`. The epoch logs (and so `History.history`)
        gain `val_recall@10`, `val_mrr`, ... , `epoch_seconds` and `events_per_second`.
    """
    validation = [cb.RankingValidation(dataset, split, train_config.tie_policy)] if train_config.validate else []
    return loop_callbacks(train_config, len(dataset.view("train")), validation)
