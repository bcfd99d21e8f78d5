"""The pieces every pairwise loss shares: p̂ = u/‖u‖, target/negative scores, masked means.

Shape legend: N events (any leading batch dims `...` work the same), D item dim, K negatives.
Negatives come either per event, [N, K, D] (e.g. the other items of the same feed view), or
shared by the whole batch, [K, D] (sampled from the catalogue); the two give the same scores when
the per-event ones are a broadcast of the shared ones, the shared form just costs one matmul.

`keras.ops` only, so these run on the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import keras
from keras import ops

# Floor on ‖u‖² in p̂ = u / sqrt(max(‖u‖², ε)) (as `tf.math.l2_normalize`): u = 0 maps to 0 with a
# finite gradient (1/sqrt(ε) = 1e6) instead of 0/0.
NORM_EPSILON = 1e-12

REDUCTIONS = ("mean", "none")


def as_float(x):
    """`x` as a tensor of a float dtype at least as wide as float32 (float64 stays float64)."""
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) != "float64":
        x = ops.cast(x, "float32")
    return x


def l2_normalize(u, epsilon=NORM_EPSILON):
    """p̂ = u / sqrt(max(‖u‖², ε)) along the last axis.

    Args:
        u: float tensor [..., D].
        epsilon: float. Floor on the squared norm. Defaults to 1e-12.

    Returns:
        Tensor [..., D]; zero where `u` is zero, with finite gradients there.
    """
    u = as_float(u)
    sq = ops.sum(ops.square(u), axis=-1, keepdims=True)
    return u * ops.rsqrt(ops.maximum(sq, epsilon))


def log_sigmoid(x):
    """log σ(x) = −softplus(−x), stable for large |x| (no log(0), no exp overflow)."""
    return -ops.softplus(-as_float(x))


def target_and_negative_scores(p, y, negatives):
    """Inner products of user vectors with their targets and with the negatives.

    Args:
        p: float tensor [N, D] (or [..., D]). User vectors (usually p̂).
        y: float tensor [N, D]. Target item vectors.
        negatives: float tensor [N, K, D] (per event) or [K, D] (shared).

    Returns:
        Tuple `(pos [N], neg [N, K])` with pos = p·y and neg_k = p·c_k.
    """
    p, y, negatives = as_float(p), as_float(y), as_float(negatives)
    pos = ops.sum(p * y, axis=-1)
    rank = len(negatives.shape)
    if rank == 2 and len(p.shape) >= 2:
        neg = ops.matmul(p, ops.transpose(negatives))
    elif rank == len(p.shape) + 1:
        neg = ops.sum(ops.expand_dims(p, axis=-2) * negatives, axis=-1)
    else:
        raise ValueError(
            f"negatives must have shape [K, D] (shared) or {tuple(p.shape[:-1])} + [K, D] "
            f"(per event) for user vectors of shape {tuple(p.shape)}, got {tuple(negatives.shape)}"
        )
    if neg.shape[-1] == 0:
        raise ValueError(f"need at least one negative, got negatives of shape {negatives.shape}")
    return pos, neg


def masked_mean(values, mask=None, reduction="mean"):
    """Weighted mean of per-event values; events of weight 0 (padding) contribute exactly 0.

    Args:
        values: float tensor [N] (or [...]). Per-event losses.
        mask: tensor [N] (same shape as `values`) of weights (bool or float), or `None` for all
            ones. Defaults to `None`.
        reduction: str. `"mean"`: Σ mask·values / Σ mask (0 when Σ mask = 0); `"none"`: the
            per-event values with padded events set to 0. Defaults to `"mean"`.

    Returns:
        A scalar (`"mean"`) or a tensor shaped like `values` (`"none"`).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    values = as_float(values)
    if mask is None:
        return ops.mean(values) if reduction == "mean" else values
    mask = ops.cast(mask, values.dtype)
    if not _shapes_match(mask.shape, values.shape):
        raise ValueError(f"mask must have shape {tuple(values.shape)}, got {tuple(mask.shape)}")
    # `where`, not only a product: a padded event whose loss is inf must still add 0, not NaN.
    weighted = ops.where(mask != 0, values * mask, ops.zeros_like(values))
    if reduction == "none":
        return weighted
    total = ops.sum(mask)
    safe_total = ops.where(total > 0, total, ops.ones_like(total))
    return ops.sum(weighted) / safe_total


def _shapes_match(a, b):
    """Equal ranks and equal sizes wherever both are known (traced dims may be `None`)."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
