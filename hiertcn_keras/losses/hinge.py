"""Hinge (max-margin) loss: (1/K) Σ_k max(0, δ + p̂·c_k − p̂·y), δ = 0.1.

The paper's best objective on Pinterest. Two variants, both from the official `loss.py`:

- `"linear"`: max(0, δ + p̂·c_k − p̂·y) on the raw scores (as in the paper's text);
- `"logsigmoid"`: max(0, δ + log σ(p̂·c_k) − log σ(p̂·y)), what the final runs used.
"""

from __future__ import annotations

from keras import ops

from hiertcn_keras.losses.scoring import (
    as_float,
    l2_normalize,
    log_sigmoid,
    masked_mean,
    target_and_negative_scores,
)

HINGE_VARIANTS = ("linear", "logsigmoid")
DEFAULT_MARGIN = 0.1


def hinge_loss(u, y, negatives, mask=None, margin=DEFAULT_MARGIN, variant="linear",
               reduction="mean"):
    """Masked mean over events of (1/K) Σ_k max(0, δ + f(p̂·c_k) − f(p̂·y)).

    f is the identity (`variant="linear"`) or log σ (`variant="logsigmoid"`).

    Args:
        u: float tensor [N, D] (or [..., D]). User embeddings (normalised here).
        y: float tensor [N, D]. Target item vectors.
        negatives: float tensor [N, K, D] (per event) or [K, D] (shared).
        mask: tensor [N] of event weights (0 = padding) or `None`. Defaults to `None`.
        margin: float. δ. Defaults to 0.1.
        variant: str. `"linear"` or `"logsigmoid"`. Defaults to `"linear"`.
        reduction: str. `"mean"` or `"none"` (per-event [N], padding 0). Defaults to `"mean"`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).

    Example: p̂·y = 0.5, negatives scoring 0.45 and 0.2: (max(0, 0.05) + max(0, −0.2)) / 2
    = 0.025.
    """
    if variant not in HINGE_VARIANTS:
        raise ValueError(f"variant must be one of {HINGE_VARIANTS}, got {variant!r}")
    u, y, negatives = as_float(u), as_float(y), as_float(negatives)
    pos, neg = target_and_negative_scores(l2_normalize(u), y, negatives)
    if variant == "logsigmoid":
        pos, neg = log_sigmoid(pos), log_sigmoid(neg)
    violation = ops.relu(margin + neg - ops.expand_dims(pos, axis=-1))
    return masked_mean(ops.mean(violation, axis=-1), mask, reduction)
