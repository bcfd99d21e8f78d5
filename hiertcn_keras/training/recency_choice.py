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
    config = model.model_config
    view = dataset.view(split)
    table, bias, candidates = scoring_table(model)
    grid = _grid(config, hours, betas, gammas)
    parts = list(scored_queries(model, view))
    if not parts:
        h, b, g = grid[0]
        return {"hours": h, "beta": b, "gamma": g, "split": split, "monitor": monitor, "value": None, "plain": None,
                "no_worse": list(no_worse), "n_events": 0, "grid": []}
    u, targets, users, events = (np.concatenate(p) for p in zip(*parts))
    recency = {h: RecencyPrior(h).fit(dataset) for h in dict.fromkeys(h for h, _, _ in grid) if h is not None}
    transition = TransitionPrior().fit(dataset) if any(g for _, _, g in grid) else None
    metrics = {key: RankingMetrics(config.n_catalogue) for key in grid}
    for start in range(0, len(u), chunk):
        rows = slice(start, start + chunk)
        base = u[rows] @ table.T
        if bias is not None:
            base += bias
        steps = transition.log_counts(view, events[rows]) if transition is not None else None
        for h in dict.fromkeys(h for h, _, _ in grid):
            clicks = recency[h].log_counts(view, events[rows]) if h is not None else None
            for b in dict.fromkeys(b for hh, b, _ in grid if hh == h):
                scores = base + np.float32(b) * clicks if b else base
                for g in (g for hh, bb, g in grid if hh == h and bb == b):
                    ranks = count_ranks(scores + np.float32(g) * steps if g else scores, targets[rows],
                                        tie_policy=tie_policy, candidates=candidates)
                    metrics[(h, b, g)].update(ranks, users[rows])
    results = {key: m.result() for key, m in metrics.items()}
    zero = next((r for (h, b, g), r in results.items() if b == 0 and g == 0), None)
    allowed = [key for key in grid
               if zero is None or all(results[key][name] >= zero[name] for name in no_worse)]
    best = allowed[0] if allowed else grid[0]
    for key in allowed[1:]:
        if results[key][monitor] > results[best][monitor]:
            best = key
    plain = None if zero is None else zero[monitor]
    names = dict.fromkeys((monitor, "recall@10", "mrr"))
    return {"hours": None if best[0] is None else float(best[0]), "beta": float(best[1]), "gamma": float(best[2]),
            "split": split, "monitor": monitor, "value": float(results[best][monitor]), "plain": plain,
            "no_worse": list(no_worse), "n_events": int(len(u)),
            "grid": [{"hours": h, "beta": b, "gamma": g, **{name: float(r[name]) for name in names}}
                     for (h, b, g), r in results.items()]}


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
