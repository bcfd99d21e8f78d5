"""`ItemModelConfig`: the settings of the item model and its training (no Keras import, so the
command line can show its defaults at once)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ItemModelConfig:
    """Settings of `embed_items`.

    Args:
        dim: int. Embedding size D. Defaults to 64.
        epochs: int. Defaults to 5.
        batch_size: int. Pairs per batch. Defaults to 512.
        n_negatives: int. Shared negatives per batch. Defaults to 500 (PinSage).
        loss: str. `softmax` (a sampled softmax over the shared negatives), `max_margin`
            (PinSage) or `nce` (the talk). Defaults to `softmax`, the best of the three on
            next-item retrieval (benchmarks/bench_item_quality.py).
        margin: float. Δ of `max_margin`. Defaults to 0.1.
        temperature: float. τ of `nce` and `softmax`. Defaults to 0.1.
        hard_negatives: int. Most hard negatives per pair; the curriculum adds one per epoch
            from the second epoch on. Defaults to 0.
        negative_distribution: str. `uniform` or `popularity`. Defaults to `uniform`.
        top_t: int. Neighbours per item. Defaults to 10.
        n_walks: int. Random walks per item. Defaults to 50.
        walk_length: int. Defaults to 3.
        window: int. Co-interaction window (events of one user). Defaults to 5.
        learning_rate: float. Defaults to 1e-3.
        seed: int. Defaults to 0.
    """

    dim: int = 64
    epochs: int = 5
    batch_size: int = 512
    n_negatives: int = 500
    loss: str = "softmax"
    margin: float = 0.1
    temperature: float = 0.1
    hard_negatives: int = 0
    negative_distribution: str = "uniform"
    top_t: int = 10
    n_walks: int = 50
    walk_length: int = 3
    window: int = 5
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        if self.loss not in ("softmax", "max_margin", "nce"):
            raise ValueError(f"loss must be 'softmax', 'max_margin' or 'nce', got {self.loss!r}")
        if self.negative_distribution not in ("uniform", "popularity"):
            raise ValueError(f"negative_distribution must be 'uniform' or 'popularity', got "
                             f"{self.negative_distribution!r}")
        for name in ("dim", "epochs", "batch_size", "n_negatives", "top_t", "n_walks", "walk_length", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.hard_negatives < 0:
            raise ValueError(f"hard_negatives must be ≥ 0, got {self.hard_negatives}")
