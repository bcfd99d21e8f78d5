"""L2 regression of the user embedding onto the target item: Σ_d (u − y)².

The official HierTCN `loss.py` baseline objective: the raw user vector u (not p̂) regresses onto
the target's (pretrained) item vector y. No negatives, so nothing keeps u from collapsing
towards the mean item: the weakest objective of the paper's table (Recall@1 0.167 vs 0.201).
"""

from __future__ import annotations

from keras import ops

from hiertcn_keras.losses.scoring import as_float, masked_mean


def l2_loss(u, y, mask=None, reduction="mean"):
    """Masked mean over events of Σ_d (u_d − y_d)².

    Args:
        u: float tensor [N, D] (or [..., D]). User embeddings.
        y: float tensor [N, D]. Target item vectors.
        mask: tensor [N] of event weights (0 = padding) or `None`. Defaults to `None`.
        reduction: str. `"mean"` or `"none"` (per-event [N], padding 0). Defaults to `"mean"`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).

    Example: u = [1, 2], y = [0, 4] gives 1² + (−2)² = 5.
    """
    u, y = as_float(u), as_float(y)
    return masked_mean(ops.sum(ops.square(u - y), axis=-1), mask, reduction)
