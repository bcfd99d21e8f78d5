"""`TrainConfig`: the settings of the training loop, frozen and recorded in the run directory."""

from __future__ import annotations

import dataclasses

STRATEGIES = ("default", "mirrored", "multi-worker")
SCHEDULES = ("plateau", "constant")
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
        memory_check: bool. Refuse, before the model is built, a config whose estimated step
            peak exceeds the available memory (`hiertcn_keras.training.memory_check`).
            Defaults to `True`.
        time_limit: float or `None`. Seconds of training (from the first step) after which the
            run stops at the end of the current step: that partial epoch is validated as any
            other, early stopping's best weights are restored, the test split is scored and
            the run is written; `metrics.json` says `stopped_by: time_limit`. `None`: no limit.
            Defaults to `None`.
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
    memory_check: bool = True
    time_limit: float | None = None

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.patience < 0:
            raise ValueError(f"patience must be ≥ 0, got {self.patience}")
        if self.monitor not in METRIC_KEYS + ("loss",):
            raise ValueError(f"monitor must be one of {METRIC_KEYS + ('loss',)}, got {self.monitor!r}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be a number of seconds > 0, got {self.time_limit}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 < self.lr_factor < 1 or self.lr_patience < 1 or self.min_lr < 0:
            raise ValueError(f"need 0 < lr_factor < 1, lr_patience ≥ 1 and min_lr ≥ 0, got {self.lr_factor}, "
                             f"{self.lr_patience}, {self.min_lr}")
