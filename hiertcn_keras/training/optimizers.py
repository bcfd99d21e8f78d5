"""The optimizer and learning-rate schedule of a training run.

- **Optimizer**: Adam, or AdamW (decoupled weight decay, Loshchilov & Hutter) when the model's
  `weight_decay` is above 0. Biases are excluded from the decay (shrinking them towards zero
  only removes the popularity prior of the output layer).
- **Schedule**: `plateau` multiplies the learning rate by `lr_factor` whenever the monitored
  validation metric has not improved for `lr_patience` epochs (Keras' `ReduceLROnPlateau`,
  which writes the current rate into the epoch logs as `learning_rate`), down to `min_lr`;
  `constant` keeps it. The rate lives in the optimizer's variable, so it is saved with the
  model and restored with a resumed run's checkpoint.
"""

from __future__ import annotations

import keras

def make_optimizer(model_config):
    """Adam, or AdamW when `model_config.weight_decay > 0`.

    Args:
        model_config: `ModelConfig` (reads `learning_rate` and `weight_decay`).

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    if model_config.weight_decay > 0:
        optimizer = keras.optimizers.AdamW(model_config.learning_rate, weight_decay=model_config.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["bias"])
        return optimizer
    return keras.optimizers.Adam(model_config.learning_rate)


def monitor_mode(metric):
    """`"min"` for metrics where lower is better (`loss`, `mrp`), else `"max"`."""
    return "min" if metric in ("loss", "mrp") else "max"


def schedule_callbacks(train_config):
    """The learning-rate schedule of `train_config` as Keras callbacks (after validation).

    Args:
        train_config: `TrainConfig` (reads `lr_schedule`, `lr_factor`, `lr_patience`, `min_lr`,
            `monitor`, `validate`).

    Returns:
        list of callbacks: `[ReduceLROnPlateau]` for `plateau` with validation, else `[]`.
    """
    if train_config.lr_schedule != "plateau" or not train_config.validate:
        return []
    return [keras.callbacks.ReduceLROnPlateau(
        monitor=f"val_{train_config.monitor}", mode=monitor_mode(train_config.monitor),
        factor=train_config.lr_factor, patience=train_config.lr_patience, min_lr=train_config.min_lr,
        min_delta=0.0, verbose=0,
    )]
