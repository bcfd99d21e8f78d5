"""NCE (negative sampling) loss: −log σ(p̂·y) − (1/K) Σ_k log σ(−p̂·c_k).

As in the official HierTCN `loss.py`, with p̂ = u/‖u‖: the target should score high, each
negative low; the negative term is averaged (not summed) over the K negatives.
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


def nce_loss(u, y, negatives, mask=None, reduction="mean"):
    """Masked mean over events of −log σ(p̂·y) − (1/K) Σ_k log σ(−p̂·c_k).

    Args:
        u: float tensor [N, D] (or [..., D]). User embeddings (normalised here).
        y: float tensor [N, D]. Target item vectors.
        negatives: float tensor [N, K, D] (per event) or [K, D] (shared).
        mask: tensor [N] of event weights (0 = padding) or `None`. Defaults to `None`.
        reduction: str. `"mean"` or `"none"` (per-event [N], padding 0). Defaults to `"mean"`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).

    Example: p̂·y = 0, one negative with p̂·c = 0 gives 2·log 2 = 1.3863.
    """
    u, y, negatives = as_float(u), as_float(y), as_float(negatives)
    pos, neg = target_and_negative_scores(l2_normalize(u), y, negatives)
    per_event = -log_sigmoid(pos) - ops.mean(log_sigmoid(-neg), axis=-1)
    return masked_mean(per_event, mask, reduction)
