"""BPR loss as the official HierTCN code has it: −(1/K) Σ_k log σ(σ(p̂·y) − σ(p̂·c_k)).

Note the sigmoids *inside*: the official `loss.py` squashes both scores to (0, 1) before the
pairwise log-sigmoid, so the difference lies in (−1, 1) and the loss in (0.31, 1.31). This is
not textbook BPR (−log σ(p̂·y − p̂·c_k)); we reproduce the code, as the paper's table used it.
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


def bpr_loss(u, y, negatives, mask=None, reduction="mean"):
    """Masked mean over events of −(1/K) Σ_k log σ(σ(p̂·y) − σ(p̂·c_k)).

    Args:
        u: float tensor [N, D] (or [..., D]). User embeddings (normalised here).
        y: float tensor [N, D]. Target item vectors.
        negatives: float tensor [N, K, D] (per event) or [K, D] (shared).
        mask: tensor [N] of event weights (0 = padding) or `None`. Defaults to `None`.
        reduction: str. `"mean"` or `"none"` (per-event [N], padding 0). Defaults to `"mean"`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).

    Example: p̂·y = p̂·c = 0 gives −log σ(0.5 − 0.5) = log 2 = 0.6931.
    """
    u, y, negatives = as_float(u), as_float(y), as_float(negatives)
    pos, neg = target_and_negative_scores(l2_normalize(u), y, negatives)
    diff = ops.expand_dims(ops.sigmoid(pos), axis=-1) - ops.sigmoid(neg)
    return masked_mean(-ops.mean(log_sigmoid(diff), axis=-1), mask, reduction)
