"""Rolling temporal evaluation: per test day (or hour), rank against the items known by then.

For each period [start, start + unit) holding targets of the split:

- the candidates are the items with an event before the period (before the store's stamp when
  vectors come from an older store), whatever its split — a news article published this
  morning is a candidate this afternoon only with hourly stores;
- the item vectors are that period's (`vectors(start)`: a dated store, or the catalogue
  re-embedded on the fly by a trained item model); the HierTCN user model, trained in a
  pretrained item space, stays fixed and reads its inputs *and* ranks its targets in them;
- a target is scored when its item is a candidate; **coverage** = scored / all targets of the
  period is reported beside every metric, per period and overall;
- each evaluated user's whole history up to the period's end is replayed (state reset exactly at
  user starts, as in `evaluate`), so a user's state is always built in the current vectors.

Simple baselines get the same candidates and targets: fitted per period on the events before it
(`recent popularity` on the last N hours only).

Metrics are event-averaged (micro); the overall figures weight each period by its scored events,
which is exact for per-event means.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hiertcn_keras.artifacts.store_directory import format_time
from hiertcn_keras.data import splits
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.metrics import RankingMetrics, count_ranks, inner_product_ranks
from hiertcn_keras.training.dated_items import events_before
from hiertcn_keras.training.evaluate import batcher_for

UNITS = {"day": 86400.0, "hour": 3600.0}


@dataclasses.dataclass
class Period:
    """One evaluation period.

    Attributes:
        start, end: float. Unix seconds, [start, end).
        view: `EventView`. The history up to `end` of the users with a scored target in it;
            `score` marks the scored targets.
        candidates: bool `[limit]`: the rankable items.
        n_targets: int. Every target of the split in the period (scored or not).
    """

    start: float
    end: float
    view: EventView
    candidates: np.ndarray
    n_targets: int

    @property
    def n_scored(self):
        return self.view.n_scored


def first_seen(dataset):
    """float64 `[I]`: each item's first event time (`inf` for none; index 0 is `inf`)."""
    ev = dataset.events
    out = np.full(dataset.n_items, np.inf)
    np.minimum.at(out, ev["item"], ev["timestamp"])
    out[0] = np.inf
    return out


def period_starts(dataset, split, unit):
    """Starts (Unix seconds, floored to whole UTC days or hours) of the periods holding targets of `split`."""
    size = UNITS[unit]
    ev = dataset.events
    times = ev["timestamp"][ev["split"] == splits.split_code(split)]
    return np.unique(np.floor(times / size) * size)


def periods(dataset, split, unit, *, limit=None, known_at=None):
    """The evaluation periods of a split, built lazily.

    Args:
        dataset: `PreparedDataset`.
        split: str. `valid` or `test`.
        unit: str. `day` or `hour`.
        limit: int or `None`. Only items `1..limit−1` are rankable (a learned output table
            has `n_catalogue + 1` rows). Defaults to every item.
        known_at: callable `start → float` or `None`: the time up to which items are known in
            the period starting at `start` (a store's stamp); defaults to `start`.

    Yields:
        `Period`.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {sorted(UNITS)}, got {unit!r}")
    limit = dataset.n_items if limit is None else int(limit)
    seen_at = first_seen(dataset)[:limit]
    ev = dataset.events
    is_target = ev["split"] == splits.split_code(split)
    for start in period_starts(dataset, split, unit):
        end = start + UNITS[unit]
        known = start if known_at is None else min(float(known_at(start)), start)
        candidates = seen_at < known
        in_period = is_target & (ev["timestamp"] >= start) & (ev["timestamp"] < end)
        item = ev["item"]
        scored = in_period & (item < limit)
        scored[scored] = candidates[item[scored]]
        users = np.zeros(dataset.n_users + 1, dtype=bool)
        users[ev["user"][scored]] = True
        visible = users[ev["user"]] & (ev["timestamp"] < end)
        view = EventView(user=ev["user"][visible], item=item[visible], timestamp=ev["timestamp"][visible],
                         session=ev["session"][visible], position=ev["position"][visible],
                         score=scored[visible], split=split)
        yield Period(float(start), float(end), view, candidates, int(in_period.sum()))


def _row(period, metrics, **extra):
    row = {"start": format_time(period.start), "n_targets": period.n_targets, "n_scored": period.n_scored,
           "coverage": period.n_scored / period.n_targets if period.n_targets else 0.0,
           "n_candidates": int(period.candidates.sum())}
    row.update(extra)
    row.update(metrics)
    return row


def _overall(rows, name, unit, split, tie_policy):
    n_targets = sum(r["n_targets"] for r in rows)
    n_scored = sum(r["n_scored"] for r in rows)
    result = {"model": name, "rolling": unit, "split": split, "tie_policy": tie_policy, "averaging": "event",
              "n_targets": n_targets, "n_events": n_scored, "coverage": n_scored / n_targets if n_targets else 0.0}
    keys = [k for k in (rows[0] if rows else {}) if k.startswith(("recall@", "mrr", "mrp", "ndcg@"))]
    for key in keys:
        parts = [(r[key], r["n_scored"]) for r in rows if r["n_scored"]]
        result[key] = sum(v * n for v, n in parts) / n_scored if n_scored else float("nan")
    result["periods"] = rows
    return result


def _period_metrics(ranks, n_candidates):
    metrics = RankingMetrics(max(int(n_candidates), 1))
    if len(ranks):
        metrics.update(np.concatenate(ranks))
    result = metrics.result()
    result.pop("n_events", None)
    return result


def rolling_evaluate_recommender(model, dataset, unit, *, split="test", vectors=None, tie_policy="conservative",
                                 name=None):
    """Rolling evaluation of a trained `Recommender` (see the module docstring).

    Args:
        model: `Recommender`. With `vectors`, its item space must be `pretrained`; its item table
            is replaced per period and restored afterwards (no other weight is touched).
        dataset: `PreparedDataset`.
        unit: str. `day` or `hour`.
        split: str. Defaults to `"test"`.
        vectors: callable `start → (matrix float32 [I, D], known_until float, label str)`, or
            `None`: the model's own (fixed) item table, whose rankable items are the catalogue.
        tie_policy: str. Defaults to `"conservative"`.
        name: str or `None`. The model's name in the result. Defaults to the model's.

    Returns:
        dict: overall `coverage`, `n_targets`, `n_events` (scored) and metrics, and `periods`:
        one dict per period with the same fields, its `start` and `n_candidates`.
    """
    config = model.model_config
    name = name or config.model
    if vectors is None:
        table, bias = model.item_table()
        table = np.asarray(table, np.float32)
        bias = None if bias is None else np.asarray(bias, np.float32)
        rows = []
        for period in periods(dataset, split, unit, limit=len(table)):
            ranks = _replay(model, config, period, table, bias, tie_policy)
            rows.append(_row(period, _period_metrics(ranks, period.candidates.sum()), store="fixed"))
        return _overall(rows, name, unit, split, tie_policy)
    if config.item_space != "pretrained":
        raise ValueError(f"per-period item vectors need a model trained with --item-space pretrained; "
                         f"this {config.model} run has a {config.item_space} item space")
    embeddings = model.user_model.get_layer("item_embedding").table
    original = np.array(embeddings)
    cache = {}

    def known_at(start):
        cache[start] = vectors(start)
        return cache[start][1]

    rows = []
    try:
        for period in periods(dataset, split, unit, known_at=known_at):
            matrix, _, label = cache.pop(period.start)
            if matrix.shape != original.shape:
                raise ValueError(f"the vectors for {format_time(period.start)} have shape {matrix.shape}, the model's "
                                 f"item table {original.shape}")
            matrix = np.asarray(matrix, np.float32).copy()
            matrix[0] = 0.0
            embeddings.assign(matrix)
            ranks = _replay(model, config, period, matrix, None, tie_policy)
            rows.append(_row(period, _period_metrics(ranks, period.candidates.sum()), store=label))
    finally:
        embeddings.assign(original)
    return _overall(rows, name, unit, split, tie_policy)


def _replay(model, config, period, table, bias, tie_policy):
    ranks = []
    if period.n_scored == 0:
        return ranks
    model.reset_states()
    for batch in batcher_for(config, period.view).batches():
        selected = batch["score"]
        if not selected.any():
            model.predict_on_batch(batch)  # still advance the carried state
            continue
        u = np.asarray(model.predict_on_batch(batch))
        ranks.append(inner_product_ranks(u[selected], table, batch["items"][selected], item_bias=bias,
                                         candidates=period.candidates, tie_policy=tie_policy))
    return ranks


def recent_popularity(hours):
    """A baseline factory: popularity over the last `hours` hours before the period.

    Returns:
        callable `(view of the events before the period, n_items, period start) → fitted baseline`.
    """
    from hiertcn_keras.models.simple_baselines import Pop

    def fit(before, n_items, start):
        recent = before.timestamp >= start - hours * 3600.0
        view = EventView(user=before.user[recent], item=before.item[recent], timestamp=before.timestamp[recent],
                         session=before.session[recent], position=before.position[recent],
                         score=before.score[recent], split=before.split)
        return Pop().fit(view, n_items, n_items - 1)

    return fit


def session_knn(**kwargs):
    """A baseline factory: `SessionKNN` fitted on every event before the period."""
    from hiertcn_keras.models.simple_baselines import SessionKNN

    def fit(before, n_items, start):
        return SessionKNN(**kwargs).fit(before, n_items, n_items - 1)

    return fit


def rolling_evaluate_baseline(fit, dataset, unit, *, split="test", name, tie_policy="conservative",
                              memory_budget_bytes=256 << 20):
    """Rolling evaluation of a simple baseline refitted per period, with the same candidates as
    `rolling_evaluate_recommender` with per-period vectors.

    Args:
        fit: callable `(EventView of the events before the period, n_items, period start) → fitted baseline`
            (`recent_popularity(hours)`, `session_knn()`).
        dataset: `PreparedDataset`.
        unit: str. `day` or `hour`.
        split: str. Defaults to `"test"`.
        name: str. The baseline's name in the result.
        tie_policy: str. Defaults to `"conservative"`.

    Returns:
        dict, as `rolling_evaluate_recommender`.
    """
    n_items = dataset.n_items
    chunk_events = max(1, memory_budget_bytes // (4 * n_items * 3))
    rows = []
    for period in periods(dataset, split, unit):
        ranks = []
        if period.n_scored:
            before = events_before(dataset, period.start)
            baseline = fit(before, n_items, period.start)
            events = np.flatnonzero(period.view.score)
            for first in range(0, len(events), chunk_events):
                chunk = events[first : first + chunk_events]
                scores = baseline.scores(period.view, chunk)
                ranks.append(count_ranks(scores, period.view.item[chunk], tie_policy=tie_policy,
                                         candidates=period.candidates))
        rows.append(_row(period, _period_metrics(ranks, period.candidates.sum()), store="refit"))
    return _overall(rows, name, unit, split, tie_policy)


def format_rolling(result, metrics=("recall@10", "mrr")):
    """A plain-text table of a rolling result: one line per period and the overall line."""
    head = f"{'period':<22} {'targets':>8} {'scored':>8} {'coverage':>8} {'cands':>7}" + "".join(
        f" {m:>9}" for m in metrics)
    lines = [f"{result['model']} (rolling {result['rolling']}, {result['split']}, {result['tie_policy']} ties)", head]
    for r in result["periods"]:
        lines.append(f"{r['start']:<22} {r['n_targets']:>8} {r['n_scored']:>8} {r['coverage']:>8.3f} "
                     f"{r['n_candidates']:>7}" + "".join(f" {r[m]:>9.4f}" for m in metrics))
    lines.append(f"{'overall':<22} {result['n_targets']:>8} {result['n_events']:>8} {result['coverage']:>8.3f} "
                 f"{'':>7}" + "".join(f" {result.get(m, 0.0):>9.4f}" for m in metrics))
    return "\n".join(lines)
