"""Training objectives: the official HierTCN pairwise losses and (sampled) softmax.

Pairwise (pretrained item space, docs/concepts.md#item-spaces-and-losses, p̂ = u/‖u‖, δ = 0.1):

| name                | per event                                           |
|---------------------|-----------------------------------------------------|
| `l2`                | Σ_d (u − y)²                                        |
| `nce`               | −log σ(p̂·y) − (1/K) Σ_k log σ(−p̂·c_k)               |
| `bpr`               | −(1/K) Σ_k log σ(σ(p̂·y) − σ(p̂·c_k))                 |
| `hinge`             | (1/K) Σ_k max(0, δ + p̂·c_k − p̂·y)                   |
| `hinge_logsigmoid`  | (1/K) Σ_k max(0, δ + log σ(p̂·c_k) − log σ(p̂·y))     |

Softmax (learned item space): `full_softmax_loss`, `sampled_softmax_loss` (log-Q corrected,
negatives from `NegativeSampler`, optionally with the batch's other targets as in-batch
negatives, `log_expected_counts`). Every loss is a masked mean over events (padding weighs 0).
They are plain functions of tensors rather than `keras.losses.Loss` subclasses: they need the
negatives and the mask besides (y_true, y_pred), so a model calls them in its training step.
"""

from hiertcn_keras.losses.bpr import bpr_loss
from hiertcn_keras.losses.hinge import DEFAULT_MARGIN, HINGE_VARIANTS, hinge_loss
from hiertcn_keras.losses.l2 import l2_loss
from hiertcn_keras.losses.nce import nce_loss
from hiertcn_keras.losses.sampling import DISTRIBUTIONS, NegativeSampler, log_expected_counts
from hiertcn_keras.losses.scoring import l2_normalize, log_sigmoid, masked_mean
from hiertcn_keras.losses.softmax import full_softmax_loss, sampled_softmax_loss
from hiertcn_keras.losses.subset import KEY_RANGE, largest_keys

PAIRWISE_LOSSES = ("l2", "nce", "bpr", "hinge", "hinge_logsigmoid")


def pairwise_loss(name, u, y, negatives=None, mask=None, *, margin=DEFAULT_MARGIN,
                  hinge_variant="linear", reduction="mean"):
    """Dispatches to a pairwise loss by name (what a config's `loss` field selects).

    Args:
        name: str. One of `PAIRWISE_LOSSES`; `"hinge_logsigmoid"` is `"hinge"` with
            `hinge_variant="logsigmoid"`.
        u: float tensor [N, D]. User embeddings.
        y: float tensor [N, D]. Target item vectors.
        negatives: float tensor [N, K, D] or [K, D]; unused (may be `None`) for `"l2"`.
        mask: tensor [N] of event weights or `None`. Defaults to `None`.
        margin: float. Hinge δ. Defaults to 0.1.
        hinge_variant: str. `"linear"` or `"logsigmoid"`, for `"hinge"`. Defaults to `"linear"`.
        reduction: str. `"mean"` or `"none"`. Defaults to `"mean"`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).
    """
    if name not in PAIRWISE_LOSSES:
        raise ValueError(f"loss must be one of {PAIRWISE_LOSSES}, got {name!r}")
    if name == "l2":
        return l2_loss(u, y, mask, reduction=reduction)
    if negatives is None:
        raise ValueError(f"loss {name!r} needs negatives, got None")
    if name == "nce":
        return nce_loss(u, y, negatives, mask, reduction=reduction)
    if name == "bpr":
        return bpr_loss(u, y, negatives, mask, reduction=reduction)
    if name == "hinge_logsigmoid":
        hinge_variant = "logsigmoid"
    return hinge_loss(u, y, negatives, mask, margin=margin, variant=hinge_variant,
                      reduction=reduction)


__all__ = [
    "DISTRIBUTIONS",
    "HINGE_VARIANTS",
    "PAIRWISE_LOSSES",
    "NegativeSampler",
    "bpr_loss",
    "full_softmax_loss",
    "hinge_loss",
    "l2_loss",
    "l2_normalize",
    "log_expected_counts",
    "KEY_RANGE",
    "largest_keys",
    "log_sigmoid",
    "masked_mean",
    "nce_loss",
    "pairwise_loss",
    "sampled_softmax_loss",
]
