"""Several seeds of one model: mean ± standard deviation, training facts and a fair winner.

A single run's Recall@10 says little when another seed moves it by as much as the gap between
two models. `summarise_seeds` turns the per-seed results of one model into one row: the mean
and the sample standard deviation (`ddof=1`; 0 for a deterministic model run once) of every
metric, the number of scored events, the share of the split's targets that could be scored
(coverage), and for neural models the epochs trained, the best validation epoch and whether it
was the last one (still improving when training stopped; `convergence.convergence_summary` of
each seed's curve). `winner` names a better model only
when the gap exceeds two standard deviations of the difference.
"""

from __future__ import annotations

import math

import numpy as np

METRIC_KEYS = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "mrp", "ndcg@10")
LOWER_IS_BETTER = ("mrp",)


def split_targets(dataset, split):
    """All targets of a split (scorable or not): the events the split evaluates.

    Args:
        dataset: `PreparedDataset`.
        split: str.

    Returns:
        int: the number of events of the split, items outside the catalogue included.
    """
    from hiertcn_keras.data import splits

    return int(np.count_nonzero(dataset.events["split"] == splits.split_code(split)))


def summarise_seeds(model, runs, *, n_targets=None, deterministic=False, metrics=METRIC_KEYS):
    """One row from the per-seed results of one model.

    Args:
        model: str. The model's name.
        runs: list of dicts, one per seed: the metrics (`recall@10`, ..., `n_events`), plus
            optionally `seed`, `train_seconds` and the keys of
            `convergence.convergence_summary` (`epochs_trained`, `best_epoch`, `still_improving`).
        n_targets: int or `None`. All targets of the split; gives `coverage = n_events / n_targets`.
        deterministic: bool. The model gives the same result for every seed (run once).
        metrics: metric keys to aggregate. Defaults to `METRIC_KEYS`.

    Returns:
        dict: `model`, `n_seeds`, `seeds`, `deterministic`, `<metric>` (mean), `<metric>_std`,
        `n_events`, `n_targets`, `coverage`, and for trained models `epochs`, `best_epoch`
        (per seed lists), `train_seconds` (mean) and `still_improving` (number of seeds).
        The per-seed results are kept under `runs`.
    """
    if not runs:
        raise ValueError(f"no runs to summarise for {model!r}")
    row = {"model": model, "n_seeds": len(runs), "seeds": [r.get("seed") for r in runs],
           "deterministic": bool(deterministic)}
    for key in metrics:
        values = np.array([r[key] for r in runs if isinstance(r.get(key), (int, float))], dtype=np.float64)
        if values.size == 0:
            continue
        row[key] = float(values.mean())
        row[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else (0.0 if deterministic else None)
    events = {int(r["n_events"]) for r in runs if "n_events" in r}
    if len(events) > 1:
        raise ValueError(f"{model}: the seeds scored different numbers of events {sorted(events)}")
    row["n_events"] = events.pop() if events else None
    row["n_targets"] = n_targets
    row["coverage"] = (row["n_events"] / n_targets) if n_targets and row["n_events"] is not None else None
    if any("epochs_trained" in r for r in runs):
        row["epochs"] = [r.get("epochs_trained") for r in runs]
        row["best_epoch"] = [r.get("best_epoch") for r in runs]
        row["still_improving"] = int(sum(bool(r.get("still_improving")) for r in runs))
    if any("train_seconds" in r for r in runs):
        row["train_seconds"] = float(np.mean([r["train_seconds"] for r in runs if "train_seconds" in r]))
    for key in ("protocol", "split", "tie_policy", "averaging"):
        if key in runs[0]:
            row[key] = runs[0][key]
    row["runs"] = [dict(r) for r in runs]
    return row


def _std(row, metric):
    std = row.get(f"{metric}_std")
    return None if std is None else float(std)


def winner(a, b, metric="recall@10", sigmas=2.0):
    """The better of two summarised rows, only when the gap exceeds `sigmas` standard deviations.

    The standard deviation is that of the difference of two independent means' runs,
    `sqrt(std_a² + std_b²)`. A model run on one seed that is not deterministic has no standard
    deviation: no winner can be named.

    Args:
        a, b: rows of `summarise_seeds`.
        metric: str. Defaults to `"recall@10"` (`mrp` is lower-is-better).
        sigmas: float. Defaults to 2.

    Returns:
        The name (`model`) of the winner, or `None` when the gap is within the noise.
    """
    sa, sb = _std(a, metric), _std(b, metric)
    if sa is None or sb is None or metric not in a or metric not in b:
        return None
    gap = a[metric] - b[metric]
    if metric in LOWER_IS_BETTER:
        gap = -gap
    noise = sigmas * math.sqrt(sa * sa + sb * sb)
    if abs(gap) <= noise or gap == 0:
        return None
    return a["model"] if gap > 0 else b["model"]


def best_row(rows, metric="recall@10", sigmas=2.0):
    """The row with the best mean and whether it beats every other row beyond the noise.

    Args:
        rows: rows of `summarise_seeds` (rows without `metric`, e.g. none scored, are skipped).
        metric: str. Defaults to `"recall@10"`.
        sigmas: float. Defaults to 2.

    Returns:
        `(best, clear)`: the best row (or `None`) and `True` when `winner(best, other)` names
        it against every other row.
    """
    rows = [r for r in rows if isinstance(r.get(metric), float)]
    if not rows:
        return None, False
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = max(rows, key=lambda r: sign * r[metric])
    clear = all(winner(best, r, metric, sigmas) == best["model"] for r in rows if r is not best)
    return best, clear
