"""Choosing the priors' weights (recency window and weight, transition weight) on validation, after training.

The model is trained and early-stopped without the priors (`hiertcn_keras.models.recency_prior`,
`hiertcn_keras.models.transition_prior`); then the validation targets are scored once by the
model and re-ranked with `u · v + b + beta · log1p(window clicks) + gamma · log1p(n(i → c))`
for every window of `HOURS`, recency weight of `BETAS` and transition weight of `GAMMAS` (each
prior only when the configuration turns it on; the plain model, `beta = gamma = 0`, first). The
two priors are chosen jointly, on the full grid. Among the settings under which neither
validation Recall@10 nor MRR is below the plain model's (`NO_WORSE`), the best validation value
wins; on a tie the earlier (smaller) window and weights win. So a prior is only used where it
helps on validation, and never trades the first positions (MRR) for a little more Recall@10 or
the reverse: where the counts say nothing, the choice is `beta = gamma = 0`, the plain model.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.metrics import RankingMetrics, count_ranks
from hiertcn_keras.models.recency_prior import BETAS, HOURS, RecencyPrior
from hiertcn_keras.models.transition_prior import GAMMAS, TransitionPrior
from hiertcn_keras.training.evaluate import scored_queries, scoring_table

# Validation metrics a chosen prior may not lower below the plain model's (beta = gamma = 0).
NO_WORSE = ("recall@10", "mrr")


def _grid(config, hours, betas, gammas):
    if config.recency_prior:
        hours = [config.recency_hours] if config.recency_hours is not None else list(hours)
        betas = [config.recency_beta] if config.recency_beta is not None else list(betas)
    else:
        hours, betas = [None], [0.0]
    if getattr(config, "transition_prior", False):
        gammas = [config.transition_gamma] if config.transition_gamma is not None else list(gammas)
    else:
        gammas = [0.0]
    # beta = 0 is the same model whatever the window: scored once, under the first window.
    return [(h, b, g) for i, h in enumerate(hours) for b in betas for g in gammas if b > 0 or i == 0]


def choose_priors(model, dataset, *, split="valid", hours=HOURS, betas=BETAS, gammas=GAMMAS, monitor="recall@10",
                  tie_policy="conservative", no_worse=NO_WORSE, chunk=1024):
    """The recency window and weight and the transition weight that score best on `split`.

    Each prior is searched only when the model's configuration turns it on; a value already
    set there is kept, the others are searched.

    Args:
        model: a trained `Recommender` whose configuration has `recency_prior` and/or
            `transition_prior` on.
        dataset: `PreparedDataset`.
        split: str. Defaults to `"valid"`.
        hours: windows searched (hours). Defaults to `recency_prior.HOURS`.
        betas: recency weights searched. Defaults to `recency_prior.BETAS` (0 included).
        gammas: transition weights searched. Defaults to `transition_prior.GAMMAS` (0 included).
        monitor: str. The metric maximised. Defaults to `"recall@10"`.
        tie_policy: str. Defaults to `"conservative"`.
        no_worse: metrics that a chosen setting may not lower below the plain model's (only
            when `beta = gamma = 0` is searched). Defaults to `NO_WORSE` (Recall@10 and MRR);
            `()` chooses on `monitor` alone.
        chunk: int. Targets scored at a time (bounds memory: a few `[chunk, n_catalogue]` arrays).

    Returns:
        dict: `hours`, `beta`, `gamma` (chosen; `hours` is `None` and `beta` 0 when the recency
        prior is off, `gamma` 0 when the transition prior is off), `split`, `monitor`, `value`
        (the chosen setting's), `plain` (the model without priors, when it was searched),
        `no_worse`, `n_events` and `grid` (every setting's `monitor`, `recall@10` and `mrr`).
    """
    grid = _grid(model.model_config, hours, betas, gammas)
    results, n_events = score_grid(model, dataset, grid, split=split, tie_policy=tie_policy, chunk=chunk)
    if not n_events:
        h, b, g = grid[0]
        return {"hours": h, "beta": b, "gamma": g, "split": split, "monitor": monitor, "value": None, "plain": None,
                "no_worse": list(no_worse), "n_events": 0, "grid": []}
    names = dict.fromkeys((monitor, "recall@10", "mrr"))
    rows = [{"hours": h, "beta": b, "gamma": g, **{name: float(r[name]) for name in names}}
            for (h, b, g), r in results.items()]
    best, plain = pick_setting(rows, monitor=monitor, no_worse=no_worse)
    return {"hours": None if best["hours"] is None else float(best["hours"]), "beta": float(best["beta"]),
            "gamma": float(best["gamma"]), "split": split, "monitor": monitor, "value": best[monitor],
            "plain": None if plain is None else plain[monitor], "no_worse": list(no_worse), "n_events": n_events,
            "grid": rows}


def pick_setting(rows, *, monitor="recall@10", no_worse=NO_WORSE):
    """The setting the no-worse rule chooses among scored settings (see the module).

    Args:
        rows: list of dicts with `hours`, `beta`, `gamma` and the metrics, in grid order
            (smaller windows and weights first).
        monitor: str. The metric maximised.
        no_worse: metrics a chosen setting may not lower below the plain model's
            (`beta = gamma = 0`, when among the rows).

    Returns:
        `(chosen row, plain row or None)`.
    """
    zero = next((r for r in rows if r["beta"] == 0 and r["gamma"] == 0), None)
    allowed = [r for r in rows if zero is None or all(r[name] >= zero[name] for name in no_worse)]
    best = allowed[0] if allowed else rows[0]
    for row in allowed[1:]:
        if row[monitor] > best[monitor]:
            best = row
    return best, zero


def score_grid(model, dataset, grid, *, split="valid", tie_policy="conservative", chunk=1024):
    """The metrics of a split under every `(hours, beta, gamma)` setting of the priors, in one replay.

    Scores are summed as `evaluate_recommender` sums them: `u · v + (beta · recency + gamma ·
    transition) + b`.

    Args:
        model: a trained `Recommender`.
        dataset: `PreparedDataset`.
        grid: list of `(hours or None, beta, gamma)`.
        split: str. Defaults to `"valid"`.
        tie_policy: str. Defaults to `"conservative"`.
        chunk: int. Targets scored at a time.

    Returns:
        `(results, n_events)`: `results` maps each setting to its `RankingMetrics.result()`.
    """
    config = model.model_config
    view = dataset.view(split)
    table, bias, candidates = scoring_table(model)
    metrics = {key: RankingMetrics(config.n_catalogue) for key in grid}
    parts = list(scored_queries(model, view))
    if not parts:
        return {key: m.result() for key, m in metrics.items()}, 0
    u, targets, users, events = (np.concatenate(p) for p in zip(*parts))
    recency = {h: RecencyPrior(h).fit(dataset) for h in dict.fromkeys(h for h, b, _ in grid if b)}
    transition = TransitionPrior().fit(dataset) if any(g for _, _, g in grid) else None
    for start in range(0, len(u), chunk):
        rows = slice(start, start + chunk)
        base = u[rows] @ table.T
        steps = transition.log_counts(view, events[rows]) if transition is not None else None
        clicks = {h: prior.log_counts(view, events[rows]) for h, prior in recency.items()}
        for h, b, g in grid:
            offsets = np.float32(b) * clicks[h] if b else None
            if g:
                offsets = np.float32(g) * steps if offsets is None else offsets + np.float32(g) * steps
            scores = base + offsets if offsets is not None else base.copy()
            if bias is not None:
                scores += bias
            ranks = count_ranks(scores, targets[rows], tie_policy=tie_policy, candidates=candidates)
            metrics[(h, b, g)].update(ranks, users[rows])
    return {key: m.result() for key, m in metrics.items()}, int(len(u))


def choose_recency(model, dataset, **kwargs):
    """`choose_priors` (the name it had before the transition prior joined the recency prior)."""
    return choose_priors(model, dataset, **kwargs)


def _chosen(config):
    """Whether every searched value of the priors a configuration turns on is already set."""
    recency = not config.recency_prior or (config.recency_hours is not None and config.recency_beta is not None)
    transition = not getattr(config, "transition_prior", False) or config.transition_gamma is not None
    return recency and transition


def apply_recency_choice(model, dataset, train_config):
    """Choose the priors of a freshly trained model on validation and put them in its configuration.

    Does nothing when no prior is on or every value of the priors that are on is set.

    Args:
        model: `Recommender` (its `model_config` is replaced by one with the chosen values).
        dataset: `PreparedDataset`.
        train_config: `TrainConfig` (its `monitor`, `tie_policy`, `validate`; with `verbose`
            one line says what was chosen).

    Returns:
        The choice (`choose_priors`'s dict), or `None` when nothing was chosen.
    """
    config = model.model_config
    if not (config.recency_prior or config.transition_prior) or _chosen(config):
        return None
    check_recency_choosable(config, train_config)
    monitor = train_config.monitor if train_config.monitor not in ("loss", "mrp") else "recall@10"
    choice = choose_priors(model, dataset, monitor=monitor, tie_policy=train_config.tie_policy)
    changes = {}
    if config.recency_prior:
        changes.update(recency_hours=choice["hours"], recency_beta=choice["beta"])
    if config.transition_prior:
        changes.update(transition_gamma=choice["gamma"])
    model.model_config = config.replace(**changes)
    if train_config.verbose:
        print(describe_choice(choice, config, monitor), flush=True)
    return choice


def describe_choice(choice, config, monitor):
    """One line: the priors chosen on validation and what they score there."""
    plain = "–" if choice["plain"] is None else f"{choice['plain']:.4f}"
    value = "–" if choice["value"] is None else f"{choice['value']:.4f}"
    parts = []
    if config.recency_prior:
        parts.append(f"recency window {choice['hours']:g} h, beta {choice['beta']:g}")
    if config.transition_prior:
        parts.append(f"transition gamma {choice['gamma']:g}")
    return (f"priors chosen on validation: {'; '.join(parts)} "
            f"(validation {monitor} {value}; without the priors {plain})")


def check_recency_choosable(config, train_config):
    """Refuses priors to be chosen on validation when there is no validation split."""
    if (config.recency_prior or config.transition_prior) and not train_config.validate and not _chosen(config):
        raise ValueError("the priors' weights are chosen on the validation split: train with validation, or set "
                         "them (--recency-hours and --recency-beta; --transition-gamma)")
