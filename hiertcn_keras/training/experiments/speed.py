"""Speed and data memory of the models, measured side by side in one process.

`training_speed` trains every model on the same data with its real batches and reports
steady-state scored events per second (compilation excluded) and the ratio of each model's
time to HierTCN's; `evaluation_speed` times full-catalogue evaluation passes; `memory_report`
counts the bytes hierarchical and flat batches hold per real event. Ratios measured within one
run are robust to a busy machine; absolute seconds are not. The benchmarks
(`benchmarks/bench_training.py`, `bench_evaluation.py`, `bench_batcher.py`) and notebook 2 call
these functions.
"""

from __future__ import annotations

import itertools
import time

import keras
import numpy as np

from hiertcn_keras.data.py_dataset import batch_nbytes
from hiertcn_keras.models.baselines import NAMES as SIMPLE_NAMES
from hiertcn_keras.models.baselines import fit_baseline
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training.evaluate import batcher_for, evaluate_baseline, evaluate_recommender
from hiertcn_keras.training.experiments.paper import NEURAL
from hiertcn_keras.training.trainer import model_config_for

MODELS = NEURAL
ID_BYTES = 4  # int32 item ids
FLOAT_BYTES = 4  # float32 state


def training_speed_of(dataset, name, steps, warmup, jit, item_space="learned", loss=None, **overrides):
    """Steady-state training speed of one model: `warmup` untimed steps, then `steps` timed ones.

    Args:
        dataset: `PreparedDataset`.
        name: str. A neural model name.
        steps, warmup: int. Timed and untimed training steps (batches cycled from one epoch).
        jit: bool. XLA.
        item_space: str. `learned` or `pretrained` (random unit vectors: speed does not depend
            on their values).
        loss: str or `None`. Defaults to the item space's default.
        **overrides: other `ModelConfig` fields.

    Returns:
        dict: `model`, `loss`, `events_per_second`, `epoch_seconds` (training events / rate),
        `step_ms`, `batches_per_epoch`, `batch_bytes`, `warmup_seconds`, `params`, ...
    """
    config = model_config_for(dataset, model=name, item_space=item_space, loss=loss, **overrides)
    matrix = None
    if item_space == "pretrained":
        # Speed does not depend on the vectors' values: random unit vectors of the default size.
        rng = np.random.default_rng(0)
        matrix = rng.normal(size=(dataset.n_items, config.embedding_dim)).astype("float32")
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    view = dataset.view("train")
    batcher = batcher_for(config, view, shuffle=True, seed=0)
    n_batches = batcher.n_batches(0)
    batches = list(itertools.islice(itertools.cycle(list(batcher.batches(0))), warmup + steps))
    model = build_recommender(config, item_matrix=matrix, item_counts=dataset.item_counts("train"))
    model(batches[0])
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit)
    started = time.perf_counter()
    for batch in batches[:warmup]:
        model.train_on_batch(batch)
    compile_seconds = time.perf_counter() - started
    events = sum(int(b["score"].sum()) for b in batches[warmup:])
    started = time.perf_counter()
    for batch in batches[warmup:]:
        loss = model.train_on_batch(batch)
    seconds = time.perf_counter() - started
    rate = events / seconds
    return {
        "model": name,
        "loss": config.loss,
        "events_per_second": rate,
        "epoch_seconds": len(view) / rate,
        "step_ms": 1000 * seconds / steps,
        "batches_per_epoch": n_batches,
        "batch_bytes": batch_nbytes(batches[0]),
        "slots_per_batch": int(np.prod(batches[0]["items"].shape)),
        "events_per_batch": events / steps,
        "warmup_seconds": compile_seconds,
        "params": model.count_params(),
        "final_loss": float(np.asarray(loss)),
    }


def training_speed(dataset, models=MODELS, *, steps=20, warmup=3, jit=True, item_space="learned", loss=None, **overrides):
    """Measure every model side by side on one dataset; add `time_ratio_to_hiertcn`.

    Args:
        dataset: `PreparedDataset`.
        models: sequence of model names. Defaults to all five.
        steps: int. Timed steps per model. Defaults to 20.
        warmup: int. Untimed steps first (compilation). Defaults to 3.
        jit: bool. XLA. Defaults to `True`.
        item_space: str. `learned` or `pretrained`. Defaults to `learned`.
        loss: str or `None`. Defaults to the item space's default.
        **overrides: other `ModelConfig` fields (e.g. smaller widths for a quick check).

    Returns:
        list of dicts, one per model (see `training_speed_of`), in `models` order.
    """
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    results = [training_speed_of(dataset, name, steps, warmup, jit, item_space, loss, **overrides) for name in models]
    base = next((r for r in results if r["model"] == "hiertcn"), results[0])
    for r in results:
        r["time_ratio_to_hiertcn"] = r["epoch_seconds"] / base["epoch_seconds"]
    return results


def _neural_pass(dataset, name, jit, split, overrides):
    config = model_config_for(dataset, model=name, **overrides)
    model = build_recommender(config, item_counts=dataset.item_counts("train"))
    model(next(batcher_for(config, dataset.view(split)).batches()))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit)
    return lambda: evaluate_recommender(model, dataset, split)


def _baseline_pass(dataset, name, split):
    baseline = fit_baseline(name, dataset)
    return lambda: evaluate_baseline(baseline, dataset, split, name=name)


def evaluation_speed_of(dataset, name, *, repeats=2, jit=True, split="test", **overrides):
    """Events/s of full evaluation passes of one model (best of `repeats`, after one untimed).

    Returns:
        dict: `model`, `events_per_second`, `pass_seconds`, `n_events`, `setup_seconds`
        (build/fit + the untimed first pass).
    """
    started = time.perf_counter()
    if name in NEURAL:
        one_pass = _neural_pass(dataset, name, jit, split, overrides)
    else:
        one_pass = _baseline_pass(dataset, name, split)
    n_events = one_pass()["n_events"]
    setup = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - started)
    best = min(times)
    return {"model": name, "events_per_second": n_events / best, "pass_seconds": best, "n_events": int(n_events),
            "setup_seconds": setup}


def evaluation_speed(dataset, models=NEURAL + SIMPLE_NAMES, *, repeats=2, jit=True, split="test", **overrides):
    """Measure every model side by side; adds `time_ratio_to_hiertcn`.

    Args:
        dataset: `PreparedDataset`.
        models: sequence of model names. Defaults to all nine.
        repeats: int. Timed passes per model (best reported). Defaults to 2.
        jit: bool. XLA for the neural models. Defaults to `True`.
        split: str. Defaults to `"test"`.
        **overrides: other `ModelConfig` fields of the neural models (e.g. smaller widths).

    Returns:
        list of dicts (see `evaluation_speed_of`), in `models` order.
    """
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    results = [evaluation_speed_of(dataset, name, repeats=repeats, jit=jit, split=split, **overrides) for name in models]
    base = next((r for r in results if r["model"] == "hiertcn"), results[0])
    for r in results:
        r["time_ratio_to_hiertcn"] = r["pass_seconds"] / base["pass_seconds"]
    return results


def spec_bytes(batcher):
    """Bytes per batch row split into per-position and per-row parts, from the element spec.

    Returns:
        `(per_batch, per_position, per_row)`: bytes of a whole batch, bytes per (row, step)
        position summed over the tensors with a step axis, and bytes per row of the others.
    """
    per_batch = per_position = per_row = 0
    for shape, dtype in batcher.element_spec().values():
        size = np.dtype(dtype).itemsize
        per_batch += int(np.prod(shape)) * size
        if len(shape) >= 2 and shape[-1] == batcher.table.max_len:
            per_position += int(np.prod(shape[2:-1], dtype=np.int64)) * size
        else:
            per_row += int(np.prod(shape[1:], dtype=np.int64)) * size
    return per_batch, per_position, per_row


def memory_report(view, hier, flat, args):
    """Data memory of hierarchical `[B, S, L]` batches against flat batches of the same users.

    Measured: (i) the hierarchical batches of one epoch; (ii) flat batches of the same users in
    the same shuffled order, B at a time, each row padded to the longest (capped at T) history
    of its group; the flat pipeline as built (fixed `[B, T]` chunks); (iv) the per-row
    footprint of one step (current session ids + a state of H floats, against a T-id window).

    Args:
        view: `EventView`. The events batched (e.g. the training split).
        hier: `QueueBatcher` over a `SessionTable` of `view`.
        flat: `QueueBatcher` over a `FlatTable` of `view` (one unit per row).
        args: an object with `batch_size`, `slots`, `flat_len` and `hidden` (B, S, T, H).

    Returns:
        dict: `bytes_per_event` (`hier`, `flat_padded`, `flat_built`, and the id-only
        variants), the ratios `ratio_hier_over_flat`, `ratio_hier_over_flat_built`,
        `row_bytes`, and the counts behind them (`n_events`, `history_mean`, ...).
    """
    B, S, L, T, H = args.batch_size, args.slots, hier.table.max_len, args.flat_len, args.hidden
    n_events = len(view)

    # (i) Hierarchical: fixed [B, S, L] batches over the epoch's plan.
    n_hier_batches = hier.n_batches(0)
    hier_batch = batch_nbytes(next(hier.batches(0)))
    hier_total = n_hier_batches * hier_batch
    hier_ids_total = n_hier_batches * B * S * L * ID_BYTES

    # (ii) Flat: the same users in the same shuffled order, B at a time, each row padded to
    # the longest (capped) history in its group; the last group is padded to B rows too.
    _, flat_per_position, flat_per_row = spec_bytes(flat)
    history = np.bincount(view.user)[hier.table.users[hier.user_order(0)]]
    held = np.minimum(history, T)
    n_groups = -(-len(held) // B)
    padded = np.zeros(n_groups * B, dtype=np.int64)
    padded[: len(held)] = held
    width = padded.reshape(n_groups, B).max(axis=1)
    flat_batches = B * (width * flat_per_position + flat_per_row)
    flat_total = int(flat_batches.sum())
    flat_ids_total = int((B * width).sum()) * ID_BYTES
    n_held = int(held.sum())

    # The flat pipeline as built: fixed [B, T] chunks through the queue batcher.
    flat_built_batch, _, _ = spec_bytes(flat)
    flat_built_total = flat.n_batches(0) * flat_built_batch

    # (iv) Per-row footprint of one step, nominal and measured over the real events.
    hier_row = S * L * ID_BYTES + H * FLOAT_BYTES
    serve_row = L * ID_BYTES + H * FLOAT_BYTES
    flat_row = T * ID_BYTES
    start = np.ones(n_events, dtype=bool)
    start[1:] = view.user[1:] != view.user[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(n_events), 0))
    flat_seen = np.minimum(np.arange(n_events) - first + 1, T)  # ids a flat TCN holds
    session_seen = view.position.astype(np.int64) + 1  # ids of the current session so far

    per_event = {
        "hier": hier_total / n_events, "hier_ids": hier_ids_total / n_events,
        "flat_padded": flat_total / n_held, "flat_padded_ids": flat_ids_total / n_held,
        "flat_built": flat_built_total / n_events,
    }
    return {
        "n_events": n_events, "n_users": int(len(history)), "max_session_len": L,
        "users_over_flat_cap": int((history > T).sum()),
        "history_mean": float(history.mean()), "history_max": int(history.max()),
        "hier_batches": n_hier_batches, "hier_batch_bytes": hier_batch,
        "hier_slot_fill": float(n_events / (n_hier_batches * B * S * L)),
        "flat_groups": n_groups, "flat_batch_bytes_mean": float(flat_batches.mean()),
        "flat_batch_bytes_max": int(flat_batches.max()), "flat_width_mean": float(width.mean()),
        "flat_fill": float(n_held / (B * width).sum()),
        "flat_per_position_bytes": flat_per_position, "flat_per_row_bytes": flat_per_row,
        "flat_built_batches": flat.n_batches(0), "flat_built_batch_bytes": flat_built_batch,
        "flat_built_fill": float(n_events / (flat.n_batches(0) * B * T)),
        "bytes_per_event": per_event,
        "ratio_hier_over_flat": per_event["hier"] / per_event["flat_padded"],
        "ratio_ids_hier_over_flat": per_event["hier_ids"] / per_event["flat_padded_ids"],
        "ratio_hier_over_flat_built": per_event["hier"] / per_event["flat_built"],
        "row_bytes": {"hier_step": hier_row, "hier_serving": serve_row, "flat_step": flat_row,
                      "hier_measured": float(session_seen.mean() * ID_BYTES + H * FLOAT_BYTES),
                      "flat_measured": float(flat_seen.mean() * ID_BYTES)},
    }
