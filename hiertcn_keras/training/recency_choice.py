"""Choosing the recency prior's window and weight on the validation split, after training.

The model is trained and early-stopped without the prior (`hiertcn_keras.models.recency_prior`);
then the validation targets are scored once by the model and re-ranked with
`u · v + b + beta · log1p(window clicks)` for every window of `HOURS` and weight of `BETAS`
(`beta = 0`, the plain model, first). Among the settings under which neither validation
Recall@10 nor MRR is below the plain model's (`NO_WORSE`), the best validation value wins; on a
tie the earlier (smaller) weight and window win. So the prior is only used where it helps on
validation, and never trades the first positions (MRR) for a little more Recall@10 or the
reverse: where recent popularity says nothing, the choice is `beta = 0`, the plain model.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.metrics import RankingMetrics, count_ranks
from hiertcn_keras.models.recency_prior import BETAS, HOURS, RecencyPrior
from hiertcn_keras.training.evaluate import scored_queries, scoring_table

# Validation metrics a chosen prior may not lower below the plain model's (beta = 0).
NO_WORSE = ("recall@10", "mrr")


def _grid(config, hours, betas):
    hours = [config.recency_hours] if config.recency_hours is not None else list(hours)
    betas = [config.recency_beta] if config.recency_beta is not None else list(betas)
    # beta = 0 is the same model whatever the window: scored once, under the first window.
    return [(h, b) for i, h in enumerate(hours) for b in betas if b > 0 or i == 0]


def choose_recency(model, dataset, *, split="valid", hours=HOURS, betas=BETAS, monitor="recall@10",
                   tie_policy="conservative", no_worse=NO_WORSE, chunk=1024):
    """The window and weight of the recency prior that score best on `split`.

    A window or weight already set in the model's configuration is kept; the others are searched.

    Args:
        model: a trained `Recommender` whose configuration has `recency_prior` on.
        dataset: `PreparedDataset`.
        split: str. Defaults to `"valid"`.
        hours: windows searched (hours). Defaults to `recency_prior.HOURS`.
        betas: weights searched. Defaults to `recency_prior.BETAS` (0 included).
        monitor: str. The metric maximised. Defaults to `"recall@10"`.
        tie_policy: str. Defaults to `"conservative"`.
        no_worse: metrics that a chosen setting may not lower below the plain model's (only
            when `beta = 0` is searched). Defaults to `NO_WORSE` (Recall@10 and MRR); `()`
            chooses on `monitor` alone.
        chunk: int. Targets scored at a time (bounds memory: a few `[chunk, n_catalogue]` arrays).

    Returns:
        dict: `hours`, `beta` (chosen), `split`, `monitor`, `value` (the chosen setting's),
        `plain` (the model without the prior, when `beta = 0` was searched), `no_worse`,
        `n_events` and `grid` (every setting's `monitor`, `recall@10` and `mrr`).
    """
    config = model.model_config
    view = dataset.view(split)
    table, bias, candidates = scoring_table(model)
    grid = _grid(config, hours, betas)
    parts = list(scored_queries(model, view))
    if not parts:
        h, b = grid[0]
        return {"hours": h, "beta": b, "split": split, "monitor": monitor, "value": None, "plain": None,
                "no_worse": list(no_worse), "n_events": 0, "grid": []}
    u, targets, users, events = (np.concatenate(p) for p in zip(*parts))
    priors = {h: RecencyPrior(h).fit(dataset) for h in dict.fromkeys(h for h, _ in grid)}
    metrics = {key: RankingMetrics(config.n_catalogue) for key in grid}
    for start in range(0, len(u), chunk):
        rows = slice(start, start + chunk)
        base = u[rows] @ table.T
        if bias is not None:
            base += bias
        for h, prior in priors.items():
            log_counts = prior.log_counts(view, events[rows])
            for b in (b for hh, b in grid if hh == h):
                ranks = count_ranks(base + np.float32(b) * log_counts, targets[rows], tie_policy=tie_policy,
                                    candidates=candidates)
                metrics[(h, b)].update(ranks, users[rows])
    results = {key: m.result() for key, m in metrics.items()}
    zero = next((r for (h, b), r in results.items() if b == 0), None)
    allowed = [key for key in grid
               if zero is None or all(results[key][name] >= zero[name] for name in no_worse)]
    best = allowed[0] if allowed else grid[0]
    for key in allowed[1:]:
        if results[key][monitor] > results[best][monitor]:
            best = key
    plain = None if zero is None else zero[monitor]
    return {"hours": float(best[0]), "beta": float(best[1]), "split": split, "monitor": monitor,
            "value": float(results[best][monitor]), "plain": plain, "no_worse": list(no_worse),
            "n_events": int(len(u)),
            "grid": [{"hours": h, "beta": b, **{name: float(r[name]) for name in dict.fromkeys((monitor, "recall@10", "mrr"))}}
                     for (h, b), r in results.items()]}


def apply_recency_choice(model, dataset, train_config):
    """Choose the prior of a freshly trained model on validation and put it in its configuration.

    Does nothing when the prior is off or its window and weight are both set.

    Args:
        model: `Recommender` (its `model_config` is replaced by one with the chosen values).
        dataset: `PreparedDataset`.
        train_config: `TrainConfig` (its `monitor`, `tie_policy`, `validate`; with `verbose`
            one line says what was chosen).

    Returns:
        The choice (`choose_recency`'s dict), or `None` when nothing was chosen.
    """
    config = model.model_config
    if not config.recency_prior or (config.recency_hours is not None and config.recency_beta is not None):
        return None
    check_recency_choosable(config, train_config)
    monitor = train_config.monitor if train_config.monitor not in ("loss", "mrp") else "recall@10"
    choice = choose_recency(model, dataset, monitor=monitor, tie_policy=train_config.tie_policy)
    model.model_config = config.replace(recency_hours=choice["hours"], recency_beta=choice["beta"])
    if train_config.verbose:
        plain = "–" if choice["plain"] is None else f"{choice['plain']:.4f}"
        value = "–" if choice["value"] is None else f"{choice['value']:.4f}"
        print(f"recency prior chosen on validation: window {choice['hours']:g} h, beta {choice['beta']:g} "
            f"(validation {monitor} {value}; without the prior {plain})", flush=True)
    return choice


def check_recency_choosable(config, train_config):
    """Refuses a prior to be chosen on validation when there is no validation split."""
    if config.recency_prior and not train_config.validate and (
            config.recency_hours is None or config.recency_beta is None):
        raise ValueError("the recency prior's window and weight are chosen on the validation split: "
                         "train with validation, or set both --recency-hours and --recency-beta")
