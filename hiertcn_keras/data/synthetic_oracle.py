"""The synthetic generator's oracle: the true next-click distribution and the clicks' ranks in it.

The generator (`synthetic`) knows each session's latent intent; the oracle ranks every click
under the exact distribution it was drawn from. Its recall and MRR are the upper bound any
model can reach on the log (`oracle.oracle_for_split` scores them on a prepared split).
"""

from __future__ import annotations

import numpy as np

_CELLS_PER_ORACLE_CHUNK = 1 << 21  # rows × n_items of one dense probability chunk


def next_click_probs(cat, config, pi, prev, first):
    """The true next-click distribution [r, n_items] given topic mixtures `pi` [r, T].

    `prev` [r] is the previous internal item (ignored when `first`); `first` says whether the
    rows are sessions' first clicks (no successor option).
    """
    n_topics = config.n_topics
    p_topic = 1.0 - config.p_noise - (0.0 if first else config.p_successor)
    weight = config.p_noise / n_topics + p_topic * pi  # [r, T] mass per unit of q
    if not first:
        rows = np.arange(len(prev))
        weight[rows, cat.topic[prev]] /= 1.0 - cat.q[prev]
    probs = weight[:, cat.topic] * cat.q
    if not first:
        probs[rows, prev] = 0.0
        probs[rows, cat.succ[prev]] += config.p_successor
    return probs


def oracle_step(cat, config, pi, prev, first, clicked):
    """Conservative ranks and probabilities of `clicked` [r], in row chunks to bound memory."""
    ranks = np.empty(len(clicked), dtype=np.int64)
    probs_out = np.empty(len(clicked))
    chunk = max(1, _CELLS_PER_ORACLE_CHUNK // config.n_items)
    for lo in range(0, len(clicked), chunk):
        sl = slice(lo, lo + chunk)
        probs = next_click_probs(cat, config, pi[sl], prev[sl], first)
        p_click = probs[np.arange(len(probs)), clicked[sl]]
        # Conservative: every item at least as likely as the click ranks ahead of it (itself
        # included, hence rank ≥ 1).
        ranks[sl] = (probs >= p_click[:, None]).sum(axis=1)
        probs_out[sl] = p_click
    return ranks, probs_out


def oracle_metrics(oracle_df, ks=(1, 5, 10, 20), mask=None):
    """Recall@k and MRR of the oracle ranks, per event (micro average).

    Args:
        oracle_df: `pandas.DataFrame` with an `oracle_rank` column (`SyntheticLog.oracle`).
        ks: tuple of int. Cut-offs; a click counts when its rank is ≤ k. Defaults to
            `(1, 5, 10, 20)`.
        mask: bool array [len(oracle_df)] or `None`. Score only these rows (e.g. a test split).
            Defaults to `None` (all rows).

    Returns:
        dict with `recall@k` for every k, `mrr` and `n_events`.

    Example:

    >>> oracle_metrics(pd.DataFrame({"oracle_rank": [1, 2, 4, 8]}), ks=(1, 5))
    {'recall@1': 0.25, 'recall@5': 0.75, 'mrr': 0.46875, 'n_events': 4}
    """
    if "oracle_rank" not in oracle_df.columns:
        raise ValueError("oracle_df has no 'oracle_rank' column; generate it with_oracle=True")
    ranks = oracle_df["oracle_rank"].to_numpy()
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != ranks.shape:
            raise ValueError(
                f"mask must be a bool array of shape {ranks.shape}, got {mask.dtype} {mask.shape}"
            )
        ranks = ranks[mask]
    if len(ranks) == 0:
        raise ValueError("no rows to score (empty frame or all-False mask)")
    if ranks.min() < 1:
        raise ValueError(f"oracle ranks must be ≥ 1, got {ranks.min()}")
    out = {f"recall@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["mrr"] = float(np.mean(1.0 / ranks))
    out["n_events"] = int(len(ranks))
    return out
