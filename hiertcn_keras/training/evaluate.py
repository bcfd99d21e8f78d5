"""Full-catalogue evaluation of neural models and simple baselines on a prepared split.

Every scored target is ranked against the whole catalogue (items `1..n_catalogue`; index 0 is
never a candidate) with an explicit tie policy (`conservative` by default: ties count against
the model; `optimistic` is the official code's). Ranks are counted, not sorted, in chunks that
keep memory bounded whatever the catalogue size. A model with the recency or transition prior on
adds it to its scores (`hiertcn_keras.models.recency_prior`, `hiertcn_keras.models.transition_prior`). Neural models replay each evaluated user's
whole visible history through the same queue batches as training, with the high-level state
carried between batches and reset exactly at user starts.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.packing import SegmentTable, packed_batcher
from hiertcn_keras.data.session_packing import PackedSessionTable
from hiertcn_keras.data.tensors import FlatTable, SessionTable
from hiertcn_keras.metrics import RankingMetrics, budget_from_memory, count_ranks, inner_product_ranks
from hiertcn_keras.models.recency_prior import RecencyPrior, prior_of
from hiertcn_keras.models.transition_prior import transition_prior_of
from hiertcn_keras.training.memory_check import available_bytes


def table_for(config, view):
    """The table a model reads a view from.

    `SessionTable` (hierarchical models), `SegmentTable` of sessions (GRU4Rec) or of history
    windows (the packed flat TCN), else `FlatTable` (the flat GRU, the unpacked flat TCN).
    """
    if config.hierarchical:
        return SessionTable.from_view(view, config.max_session_len)
    if config.model == "gru4rec":
        return SegmentTable.from_view(view, "session")
    if config.model == "tcn" and config.flat_packed:
        return SegmentTable.from_view(view, "history", config.flat_len)
    return FlatTable.from_view(view, config.flat_chunk_len)


def batcher_for(config, view, *, shuffle=False, seed=0, training=False):
    """A `QueueBatcher` over a view with the model's batch geometry.

    With `training=True` and `config.packed_sessions` (HierTCN) its batches lay each row's
    sessions end to end (`PackedSessionTable`); evaluation reads the padded `[B, S, L]` slots.
    """
    table = table_for(config, view)
    if training and config.packed_sessions:
        table = PackedSessionTable(table, config.sessions_per_batch)
    if isinstance(table, SegmentTable):
        return packed_batcher(table, config.batch_size, config.flat_chunk_len, shuffle=shuffle, seed=seed)
    units = config.sessions_per_batch if config.hierarchical else 1
    return QueueBatcher(table, config.batch_size, units, shuffle=shuffle, seed=seed)


def _metrics(n_catalogue, averaging):
    return RankingMetrics(n_catalogue, averaging=averaging)


def coverage(dataset, split, n_scored):
    """How many of a split's targets could be ranked.

    Args:
        dataset: `PreparedDataset`.
        split: str.
        n_scored: int. Targets ranked (items in the catalogue).

    Returns:
        dict: `n_scored`, `n_targets` (every event of the split) and `coverage` (their ratio;
        targets whose item was not seen in training cannot be ranked).
    """
    from hiertcn_keras.data import splits

    events = getattr(dataset, "events", None)
    if events is None:  # a held-out log (`data.heldout`): every event of its one split is a target
        n_targets = len(dataset.view(split))
    else:
        n_targets = int((events["split"] == splits.split_code(split)).sum())
    return {"n_scored": int(n_scored), "n_targets": n_targets,
            "coverage": float(n_scored / n_targets) if n_targets else float("nan")}


def evaluation_budget(memory_budget_bytes=None):
    """Working memory of one ranking step: `memory_budget_bytes`, or sized from the memory
    available now (`memory_check.available_bytes`, psutil) when `None`."""
    if memory_budget_bytes is not None:
        return int(memory_budget_bytes)
    return budget_from_memory(available_bytes())


def scored_queries(model, view):
    """Replay a view through a `Recommender` and yield the user embeddings of its scored targets.

    Each evaluated user's whole visible history goes through the same queue batches as in
    training, with the carried state reset exactly at user starts.

    Args:
        model: `Recommender`.
        view: `EventView`.

    Yields:
        `(u, targets, users, events)` per batch with scored targets: float `[n, E]`, int `[n]`
        items, int `[n]` user indices and int64 `[n]` view indices of the targets.
    """
    config = model.model_config
    batcher = batcher_for(config, view)
    model.reset_states()
    for index in batcher.plan():
        batch = batcher.table.gather(index)
        selected = batch["score"]
        if not selected.any():
            model.predict_on_batch(batch)  # still advance the carried state
            continue
        u = np.asarray(model.predict_on_batch(batch))
        # `user` is [B, S] (hierarchical) or [B] (flat): one trailing axis reaches the steps;
        # packed rows carry it per step, [B, T].
        users = batch["user"]
        if users.shape != selected.shape:
            users = np.broadcast_to(users[..., None], selected.shape)
        users = users[selected]
        yield u[selected], batch["items"][selected], users, batcher.table.events_of(index)[selected]


def scoring_table(model):
    """A `Recommender`'s item table as NumPy: `(table [C + 1, E], bias [C + 1] or None, candidates)`.

    `candidates` is bool `[C + 1]`: every row but the padding row 0.
    """
    table, bias = model.item_table()
    table = np.asarray(table, dtype=np.float32)
    bias = None if bias is None else np.asarray(bias, dtype=np.float32)
    return table, bias, np.arange(len(table)) > 0


def offset_ranks(u, table, bias, offsets, targets, candidates, tie_policy, chunk=512):
    """Full-catalogue ranks of `u · tableᵀ + bias + offsets` (dense, `chunk` rows at a time).

    Args:
        u: float `[n, E]`; table: float `[C + 1, E]`; bias: float `[C + 1]` or `None`.
        offsets: float `[n, C + 1]` added to the scores (the priors).
        targets: int `[n]`; candidates: bool `[C + 1]`; tie_policy: str.

    Returns:
        int64 `[n]` ranks.
    """
    parts = []
    for start in range(0, len(u), chunk):
        rows = slice(start, start + chunk)
        scores = u[rows] @ table.T + offsets[rows]
        if bias is not None:
            scores += bias
        parts.append(count_ranks(scores, targets[rows], tie_policy=tie_policy, candidates=candidates))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def fitted_priors(config, dataset):
    """The priors a `ModelConfig` applies, fitted on a dataset: a list of 0, 1 or 2 objects."""
    return [p for p in (prior_of(config, dataset), transition_prior_of(config, dataset)) if p is not None]


def prior_offsets(priors, view, events):
    """The sum of the priors' offsets of `events`: float32 `[N, C + 1]`."""
    total = priors[0].offsets(view, events)
    for prior in priors[1:]:
        total += prior.offsets(view, events)
    return total


def evaluate_recommender(model, dataset, split="test", *, tie_policy="conservative", averaging="event",
                         return_ranks=False, memory_budget_bytes=None):
    """Rank every scored target of `split` with a trained `Recommender`.

    A model whose configuration turns the recency prior on with a chosen `recency_beta` > 0
    adds `beta · log1p(window clicks)` to every score (`hiertcn_keras.models.recency_prior`);
    one with the transition prior and a chosen `transition_gamma` > 0 adds
    `gamma · log1p(n(current item → candidate))` (`hiertcn_keras.models.transition_prior`).

    Args:
        model: `hiertcn_keras.models.recommender.Recommender`.
        dataset: `PreparedDataset`.
        split: str. Defaults to `"test"`.
        tie_policy: str. `conservative`, `optimistic` or `average`. Defaults to `conservative`.
        averaging: str. `event` (micro) or `user`. Defaults to `event`.
        return_ranks: bool. Also return `(ranks, users, targets)` arrays. Defaults to `False`.
        memory_budget_bytes: int or `None`. Working memory of one ranking chunk; `None` sizes
            it from the memory available now (`evaluation_budget`). The ranks do not depend on
            it. Defaults to `None`.

    Returns:
        dict of metrics (`recall@K`, `mrr`, `mrp`, `ndcg@10`, `n_events`, ...).
    """
    config = model.model_config
    budget = evaluation_budget(memory_budget_bytes)
    view = dataset.view(split)
    table, bias, candidates = scoring_table(model)
    priors = fitted_priors(config, dataset)
    metrics = _metrics(config.n_catalogue, averaging)
    collected = []
    for u, targets, users, events in scored_queries(model, view):
        if not priors:
            ranks = inner_product_ranks(u, table, targets, item_bias=bias, candidates=candidates,
                                        tie_policy=tie_policy, memory_budget_bytes=budget)
        else:
            ranks = offset_ranks(u, table, bias, prior_offsets(priors, view, events), targets, candidates, tie_policy)
        metrics.update(ranks, users)
        if return_ranks:
            collected.append((ranks, users, targets))
    result = metrics.result()
    result.update(tie_policy=tie_policy, split=split, model=config.model, protocol=dataset.protocol,
                  averaging=averaging, **coverage(dataset, split, result["n_events"]))
    for prior in priors:
        if isinstance(prior, RecencyPrior):
            result.update(recency_hours=prior.hours, recency_beta=prior.beta)
        else:
            result.update(transition_gamma=prior.gamma)
    if return_ranks:
        arrays = tuple(np.concatenate(parts) for parts in zip(*collected)) if collected else (np.zeros(0),) * 3
        return result, arrays
    return result


def evaluate_baseline(baseline, dataset, split="test", *, name, tie_policy="conservative", averaging="event",
                      chunk_events=None, memory_budget_bytes=None):
    """Rank every scored target of `split` with a fitted simple baseline (`scores(view, events)`).

    Args:
        baseline: an object of `hiertcn_keras.models.simple_baselines`.
        dataset: `PreparedDataset`.
        split: str. Defaults to `"test"`.
        name: str. The baseline's name for the result.
        tie_policy, averaging: as in `evaluate_recommender`.
        chunk_events: int or `None`. Events scored per chunk; by default as many as fit in
            `memory_budget_bytes` of float32 scores.
        memory_budget_bytes: int or `None`. `None` sizes it from the memory available now
            (`evaluation_budget`).

    Returns:
        dict of metrics.
    """
    view = dataset.view(split)
    n_candidates = dataset.n_catalogue + 1
    if chunk_events is None:
        chunk_events = max(1, evaluation_budget(memory_budget_bytes) // (4 * n_candidates * 3))
    candidates = np.arange(n_candidates) > 0
    metrics = _metrics(dataset.n_catalogue, averaging)
    events = np.flatnonzero(view.score)
    for start in range(0, len(events), chunk_events):
        chunk = events[start : start + chunk_events]
        scores = baseline.scores(view, chunk)
        ranks = count_ranks(scores, view.item[chunk], tie_policy=tie_policy, candidates=candidates)
        metrics.update(ranks, view.user[chunk])
    result = metrics.result()
    result.update(tie_policy=tie_policy, split=split, model=name, protocol=dataset.protocol, averaging=averaging,
                  **coverage(dataset, split, len(events)))
    return result
