"""The item model's objectives over masked candidate scores, and its hard negatives.

`ItemModel` scores every training pair (q, i) against K negatives shared by the batch and,
with the curriculum on, H hard negatives of its own. Some candidates must not count: a shared
negative that *is* the positive (with 1,000 items and K = 500 uniform draws that happens to
~40% of the pairs, and NCE would then push the positive away), or a hard negative equal to the
query or the positive. So the objectives take a validity mask `[N, K]` and average over the
valid candidates only.

Scores are inner products of L2-normalised embeddings, so they lie in [−1, 1]; a sigmoid or
softmax over such scores can never become confident, which is why NCE and softmax take a
temperature τ (scores / τ). The max-margin loss compares score differences with the margin Δ
and needs none.

| name         | per pair (s⁺ = z_q·z_i, s_k = z_q·z_k over valid k)          |
|--------------|---------------------------------------------------------------|
| `max_margin` | mean_k max(0, Δ + s_k − s⁺)               (PinSage)           |
| `nce`        | −log σ(s⁺/τ) − mean_k log σ(−s_k/τ)       (the talk's slide)  |
| `softmax`    | −log softmax([s⁺, s_1..s_K] / τ)[0]       (sampled softmax)   |

Shape legend: N pairs in a batch, K candidates per pair, T neighbours per item, H hard
negatives per pair.
"""

from __future__ import annotations

import keras
from keras import ops

from hiertcn_keras.losses import log_sigmoid

ITEM_LOSSES = ("max_margin", "nce", "softmax")


def _masked_mean(values, valid):
    """Mean over the last axis of the `valid` entries (0 where a row has none)."""
    weights = ops.cast(valid, values.dtype)
    return ops.sum(values * weights, axis=-1) / ops.maximum(ops.sum(weights, axis=-1), 1.0)


def item_pair_loss(name, positive, negatives, valid, *, margin=0.1, temperature=1.0):
    """Mean over pairs of the item model's objective.

    Args:
        name: str. One of `ITEM_LOSSES`.
        positive: float tensor `[N]`. s⁺, the query's score of its positive.
        negatives: float tensor `[N, K]`. The query's scores of its candidates.
        valid: bool tensor `[N, K]`. Which candidates count.
        margin: float. Δ of `max_margin`. Defaults to 0.1.
        temperature: float. τ of `nce` and `softmax`. Defaults to 1.0.

    Returns:
        Scalar loss.

    Example: s⁺ = 0.5, candidates 0.45 (valid) and 0.9 (not valid), Δ = 0.1: max_margin =
    max(0, 0.1 + 0.45 − 0.5) = 0.05.
    """
    if name not in ITEM_LOSSES:
        raise ValueError(f"loss must be one of {ITEM_LOSSES}, got {name!r}")
    if name == "max_margin":
        violation = ops.relu(margin + negatives - ops.expand_dims(positive, -1))
        return ops.mean(_masked_mean(violation, valid))
    positive, negatives = positive / temperature, negatives / temperature
    if name == "nce":
        return ops.mean(-log_sigmoid(positive) - _masked_mean(log_sigmoid(-negatives), valid))
    # Invalid candidates get a logit far below any real one, so exp(·) is exactly 0.
    negatives = ops.where(valid, negatives, ops.full_like(negatives, -1e9))
    logits = ops.concatenate([ops.expand_dims(positive, -1), negatives], axis=-1)
    return ops.mean(ops.logsumexp(logits, axis=-1) - positive)


def two_hop_negatives(neighbours, query, n_hard, seed_generator):
    """Hard negatives: the ends of random two-step walks on the importance neighbourhoods.

    PinSage's hard negatives are items related to the query but less than its positive (it
    ranks them by personalised PageRank). Here a walk takes a random slot of the query's top-T
    neighbours, then a random slot of that neighbour's: an item in the query's two-hop
    neighbourhood, often related, rarely the positive itself (the caller masks it out).

    Args:
        neighbours: int tensor `[n_items, T]` (0 = no neighbour).
        query: int tensor `[N]`.
        n_hard: int. H.
        seed_generator: `keras.random.SeedGenerator`.

    Returns:
        int32 tensor `[N, H]` of item ids (0 where a walk fell on a missing neighbour).
    """
    t = neighbours.shape[1]
    n = ops.shape(query)[0]
    first = keras.random.randint((n, n_hard), 0, t, seed=seed_generator)
    second = keras.random.randint((n, n_hard), 0, t, seed=seed_generator)
    hop1 = ops.take_along_axis(ops.take(neighbours, query, axis=0), first, axis=1)  # [N, H]
    hop2 = ops.take(neighbours, ops.reshape(hop1, (-1,)), axis=0)  # [N·H, T]
    hop2 = ops.take_along_axis(hop2, ops.reshape(second, (-1, 1)), axis=1)
    return ops.cast(ops.reshape(hop2, (n, n_hard)), "int32")
