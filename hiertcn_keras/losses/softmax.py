"""Softmax cross-entropy over the catalogue: full (exact) and sampled (log-Q corrected).

Full: the official XING setup, a learned untied output layer scored over all C items,
ℓ = logsumexp_j(z_j) − z_t computed straight from the logits (never softmax-then-log, and never
softmax twice, the mistake Hidasi & Czapp found in GRU4Rec ports).

Sampled: for catalogues too big for [N, C] logits. M negative ids are drawn once per batch
(shared by every event) from a proposal Q; the candidates of event n are its target plus the M
samples, and every candidate's logit gets the log-Q correction z − log Q (Bengio & Senécal;
Yi et al., RecSys 2019), the target's included, so the estimate is not biased towards popular
items. A sampled id equal to the event's own target (an "accidental hit") would count the target
as its own negative; with `remove_accidental_hits` its logit is set to a huge negative value
(exp → 0), so with every item sampled under a uniform Q the loss is exactly the full softmax.
Without it the target appears twice: ℓ = −log(e^{z_t} / (Σ_j e^{z_j} + e^{z_t})).

Candidates need not be drawn from one proposal: with in-batch negatives (the other targets of
the batch, `hiertcn_keras.losses.sampling.log_expected_counts`) the correction of candidate j is
log E[count of j among the candidates] = log(M·Q(j) + n·P(j)), M shared draws from Q plus the
batch's n targets, each drawn from the unigram P; a candidate slot may also be invalid (a padded
position's target), with `sampled_valid` False: it counts as exactly nothing, like an accidental
hit.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from hiertcn_keras.losses.scoring import as_float, masked_mean

# "−inf" for accidental hits, kept finite so that no inf − inf (NaN) can appear; half the float32
# range so that subtracting the row max inside logsumexp cannot overflow.
ACCIDENTAL_HIT_LOGIT = -0.5 * float(np.finfo(np.float32).max)


def full_softmax_loss(logits, targets, mask=None, reduction="mean"):
    """Masked mean over events of −log softmax(logits)[target] = logsumexp(z) − z_t.

    Args:
        logits: float tensor [N, C] (or [..., C]). Unnormalised scores of every item.
        targets: int tensor [N]. Target item ids in [0, C).
        mask: tensor [N] of event weights (0 = padding) or `None`. Defaults to `None`.
        reduction: str. `"mean"` or `"none"` (per-event [N], padding 0). Defaults to `"mean"`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).

    Example: logits [0, ln 3], target 1: −log(3/4) = 0.2877.
    """
    logits = as_float(logits)
    targets = ops.cast(ops.convert_to_tensor(targets), "int32")
    target_logits = ops.take_along_axis(logits, ops.expand_dims(targets, axis=-1), axis=-1)
    per_event = ops.logsumexp(logits, axis=-1) - ops.squeeze(target_logits, axis=-1)
    return masked_mean(per_event, mask, reduction)


def sampled_softmax_loss(u, targets, weights, bias, sampled, sampled_log_q=None,
                         target_log_q=None, mask=None, remove_accidental_hits=True,
                         reduction="mean", sampled_valid=None):
    """Masked mean over events of the log-Q corrected sampled softmax cross-entropy.

    With z_j = u·w_j + b_j − log Q(j), candidates {t} ∪ sampled:
    ℓ = logsumexp(z_t, z_{s_1}, …, z_{s_M}) − z_t.

    Args:
        u: float tensor [N, D] (or [..., D]). User embeddings.
        targets: int tensor [N]. Target item ids.
        weights: float tensor [C, D]. Output item embeddings.
        bias: float tensor [C] or `None`. Output item biases.
        sampled: int tensor [M]. Negative ids shared by all events.
        sampled_log_q: float tensor [M] or `None`. log Q of the sampled ids; `None` skips the
            correction. Defaults to `None`.
        target_log_q: float tensor [N] or `None`. log Q of each target; `None` skips it.
            Defaults to `None`.
        mask: tensor [N] of event weights (0 = padding) or `None`. Defaults to `None`.
        remove_accidental_hits: bool. Mask sampled ids equal to the event's target to a huge
            negative logit. Defaults to `True`.
        reduction: str. `"mean"` or `"none"` (per-event [N], padding 0). Defaults to `"mean"`.
        sampled_valid: bool tensor [M] or `None`. Which sampled slots are candidates at all;
            an invalid slot gets the same huge negative logit as an accidental hit (its
            `sampled_log_q` may then be anything, −inf included). `None`: every slot.
            Defaults to `None`.

    Returns:
        Scalar loss (or [N] with `reduction="none"`).

    Example: all logits 0, target 1, sampled [1, 2] without correction: the hit on 1 is masked,
    ℓ = logsumexp(0, 0) = log 2 = 0.6931; keeping the hit, log 3 = 1.0986.
    """
    u, weights = as_float(u), as_float(weights)
    targets = ops.cast(ops.convert_to_tensor(targets), "int32")
    sampled = ops.cast(ops.convert_to_tensor(sampled), "int32")
    target_logits = ops.sum(u * ops.take(weights, targets, axis=0), axis=-1)  # [N]
    sampled_logits = ops.matmul(u, ops.transpose(ops.take(weights, sampled, axis=0)))  # [N, M]
    if bias is not None:
        bias = ops.cast(bias, target_logits.dtype)
        target_logits = target_logits + ops.take(bias, targets, axis=0)
        sampled_logits = sampled_logits + ops.take(bias, sampled, axis=0)
    if target_log_q is not None:
        target_logits = target_logits - ops.cast(target_log_q, target_logits.dtype)
    if sampled_valid is not None:
        sampled_valid = ops.cast(sampled_valid, "bool")
    if sampled_log_q is not None:
        sampled_log_q = ops.cast(sampled_log_q, sampled_logits.dtype)
        if sampled_valid is not None:  # no −inf of an invalid slot reaches the arithmetic
            sampled_log_q = ops.where(sampled_valid, sampled_log_q, ops.zeros_like(sampled_log_q))
        sampled_logits = sampled_logits - sampled_log_q
    drop = None
    if remove_accidental_hits:
        drop = ops.equal(ops.expand_dims(targets, axis=-1), sampled)  # [N, M]
    if sampled_valid is not None:
        invalid = ops.expand_dims(ops.logical_not(sampled_valid), axis=0)  # [1, M]
        drop = invalid if drop is None else ops.logical_or(drop, invalid)
    if drop is not None:
        sampled_logits = ops.where(
            drop, ops.full_like(sampled_logits, ACCIDENTAL_HIT_LOGIT), sampled_logits
        )
    logits = ops.concatenate([ops.expand_dims(target_logits, axis=-1), sampled_logits], axis=-1)
    per_event = ops.logsumexp(logits, axis=-1) - target_logits
    return masked_mean(per_event, mask, reduction)
