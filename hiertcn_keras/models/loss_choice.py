"""The default loss of a model: picked from the catalogue size in the learned item space.

The full softmax scores every one of the C catalogue items at every position, so its step costs
grow with C; the sampled softmax (log-Q corrected, M shared negatives) costs the same whatever
C is, but learns less per step. Trained to convergence on a 4,817-item catalogue, the full
softmax reached validation Recall@10 0.38 after two epochs where the sampled softmax of the time
(20 shared negatives) stayed near 0.07, although a short fixed-time budget favours the sampled
softmax from about 5,000 items (`benchmarks/bench_loss_crossover.py`). So the full softmax is
kept until its step cost, which grows with C (16.5x the sampled softmax's at 41,626 items),
makes an epoch impractical: from `SAMPLED_SOFTMAX_FROM` items (both measurements in
docs/scale.md). The
pretrained item space keeps its pairwise default (`hinge`, the paper's best), and `gru4rec`
always trains with the sampled softmax, as GRU4Rec does. A loss given explicitly (`--loss`)
always wins over this rule.

The sampled softmax's candidates (`default_negatives`) are 1,024 shared negatives drawn by
popularity^0.75 plus up to as many of the batch's other targets, every candidate log-Q corrected
by its expected count; 20 uniform negatives, the earlier default, learned far too little per
step on a 42,443-item catalogue (docs/scale.md, "The sampled softmax's candidates").
"""

from __future__ import annotations

# Catalogue size (rankable items) from which the learned item space defaults to the sampled
# softmax: measured, see the module docstring.
SAMPLED_SOFTMAX_FROM = 20_000

PRETRAINED_DEFAULT = "hinge"
# Models whose own training is the sampled softmax, whatever the catalogue.
SAMPLED_MODELS = ("gru4rec",)

# The sampled softmax's candidates in the learned item space when none are given: M shared
# negatives drawn by popularity^alpha plus the batch's other targets, all log-Q corrected
# (measured against 20 uniform negatives on a 42,443-item catalogue, docs/scale.md).
SAMPLED_NEGATIVES = 1024
SAMPLED_DISTRIBUTION = "popularity"
SAMPLED_IN_BATCH = True
# `(n_negatives, negative_distribution, in_batch_negatives)` of the other cases: the pairwise
# losses' negatives, and GRU4Rec's own sampling.
PAIRWISE_NEGATIVES = (20, "uniform", False)
GRU4REC_NEGATIVES = (512, "popularity", False)


def default_loss(item_space, n_catalogue, model=None, threshold=SAMPLED_SOFTMAX_FROM):
    """The loss a model gets when none is given.

    Args:
        item_space: str. `learned` or `pretrained`.
        n_catalogue: int. Rankable items C.
        model: str or `None`. The model's name (`gru4rec` always gets `sampled_softmax`).
            Defaults to `None`.
        threshold: int. C from which the learned space uses the sampled softmax. Defaults to
            `SAMPLED_SOFTMAX_FROM`.

    Returns:
        str: `softmax` or `sampled_softmax` (learned), `hinge` (pretrained).

    Example:

    >>> default_loss("learned", 1_000), default_loss("learned", 45_000)
    ('softmax', 'sampled_softmax')
    """
    if item_space != "learned":
        return PRETRAINED_DEFAULT
    if model in SAMPLED_MODELS:
        return "sampled_softmax"
    return "sampled_softmax" if n_catalogue >= threshold else "softmax"


def default_negatives(item_space, loss, model=None):
    """The negatives a loss gets when none are given.

    Args:
        item_space: str. `learned` or `pretrained`.
        loss: str. The (chosen or given) loss.
        model: str or `None`. The model's name. Defaults to `None`.

    Returns:
        Tuple `(n_negatives, negative_distribution, in_batch_negatives)`.

    Example:

    >>> default_negatives("learned", "sampled_softmax"), default_negatives("pretrained", "hinge")
    ((1024, 'popularity', True), (20, 'uniform', False))
    """
    if model in SAMPLED_MODELS:
        return GRU4REC_NEGATIVES
    if item_space == "learned" and loss == "sampled_softmax":
        return SAMPLED_NEGATIVES, SAMPLED_DISTRIBUTION, SAMPLED_IN_BATCH
    return PAIRWISE_NEGATIVES


def describe_choice(config):
    """Why `config` trains with its loss, in words (for the run's first line and config.json).

    Args:
        config: `ModelConfig`.

    Returns:
        str, e.g. `"chosen for a catalogue of 44,990 items: sampled_softmax from 20,000;
        --loss overrides"` or `"given explicitly"`.
    """
    if not config.loss_by_default:
        return "given explicitly"
    if config.item_space != "learned":
        return "the pretrained item space's default; --loss overrides"
    if config.model in SAMPLED_MODELS:
        return f"{config.model}'s own loss; --loss overrides"
    if config.loss != default_loss(config.item_space, config.n_catalogue, config.model):
        # A config derived from another (a refit on a larger catalogue) keeps that one's loss.
        return "the default of the run it was derived from; --loss overrides"
    return (f"chosen for a catalogue of {config.n_catalogue:,} items: sampled_softmax from "
            f"{SAMPLED_SOFTMAX_FROM:,}; --loss overrides")


def describe_negatives(config):
    """The sampled softmax's candidates, in words (for the run's first line).

    Args:
        config: `ModelConfig` with `loss="sampled_softmax"`.

    Returns:
        str, e.g. `"1,024 shared negatives (popularity^0.75) and the batch's targets, log-Q
        corrected"`.
    """
    drawn = "uniform" if config.negative_distribution == "uniform" else f"popularity^{config.alpha:g}"
    text = f"{config.n_negatives:,} shared negatives ({drawn})"
    if getattr(config, "in_batch_negatives", False):
        text += " and the batch's targets"
    return text + ", log-Q corrected"


__all__ = ["GRU4REC_NEGATIVES", "PAIRWISE_NEGATIVES", "PRETRAINED_DEFAULT", "SAMPLED_DISTRIBUTION",
           "SAMPLED_IN_BATCH", "SAMPLED_MODELS", "SAMPLED_NEGATIVES", "SAMPLED_SOFTMAX_FROM", "default_loss",
           "default_negatives", "describe_choice", "describe_negatives"]
