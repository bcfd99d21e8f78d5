"""`TrainConfig`: the settings of the training loop, frozen and recorded in the run directory."""

from __future__ import annotations

import dataclasses

STRATEGIES = ("default", "mirrored", "multi-worker")
METRIC_KEYS = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "mrp", "ndcg@10")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of the training loop.

    Args:
        epochs: int. Maximum epochs. Defaults to 10.
        monitor: str. Validation metric for early stopping (`recall@10`, `mrr`, ... or `loss`).
            Defaults to `recall@10`.
        patience: int. Epochs without improvement before stopping. Defaults to 3.
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
    """

    epochs: int = 10
    monitor: str = "recall@10"
    patience: int = 3
    jit_compile: object = "auto"
    tie_policy: str = "conservative"
    validate: bool = True
    verbose: int = 1
    seed: int = 0
    strategy: str = "default"
    memory_check: bool = True

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.patience < 0:
            raise ValueError(f"patience must be ≥ 0, got {self.patience}")
        if self.monitor not in METRIC_KEYS + ("loss",):
            raise ValueError(f"monitor must be one of {METRIC_KEYS + ('loss',)}, got {self.monitor!r}")
