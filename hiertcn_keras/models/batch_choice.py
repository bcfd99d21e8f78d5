"""The default batch size of a hierarchical model: picked from the number of training events.

One training step of HierTCN costs a fixed part (the high-level GRU's sequential steps, the
dense update of the item table and Adam's moments, the step's dispatch) plus a part per
position of the `[B, S, L]` batch. At batch 8 the fixed part dominates on a large log: on a
2.4M-event log with a 45k-item table a step of 8 rows cost 170 ms of CPU for 197 events
(1,159 events per CPU-second), a step of 64 rows 859 ms for 1,607 events (1,871 events per
CPU-second; `benchmarks/bench_step_profile.py`, docs/scale.md). Small logs keep batch 8, the
setting the tuning sweep chose (docs/tuning.md: more, smaller updates learned a sparse
catalogue fastest); from `EVENTS_PER_BASE_BATCH` training events on, the batch doubles every
time the log doubles, up to `MAX_DEFAULT_BATCH`, so an epoch keeps at least about as many
steps as batch 8 gives a log of that size (about 1,000 on Globo-shaped sessions).

When the rule picks the batch, the learning rate is scaled with the square root of the batch
ratio (`scaled_learning_rate`: the square-root rule for Adam, Malladi et al., NeurIPS 2022),
unless a rate is given. An explicit batch size always wins, and keeps the given (or the
default) learning rate. Flat models (`tcn`, `gru`, `gru4rec`), whose rows are long windows
or session lanes, keep their batch.
"""

from __future__ import annotations

import math

BASE_BATCH = 8
# Training events up to which the default batch stays BASE_BATCH.
EVENTS_PER_BASE_BATCH = 200_000
MAX_DEFAULT_BATCH = 64
BASE_LEARNING_RATE = 3e-3
# Models whose batch the rule sets (one row = S session slots).
SCALED_MODELS = ("hiertcn", "hiergru", "hrnn")


def default_batch_size(n_events, model="hiertcn"):
    """The batch size a model gets when none is given.

    Args:
        n_events: int. Training events of an epoch.
        model: str. The model's name; flat models keep `BASE_BATCH`. Defaults to `hiertcn`.

    Returns:
        int: `BASE_BATCH` up to `EVENTS_PER_BASE_BATCH` events, then `BASE_BATCH · 2^k` with
        `2^k ≤ n_events / EVENTS_PER_BASE_BATCH`, at most `MAX_DEFAULT_BATCH`.

    Example:

    >>> default_batch_size(80_000), default_batch_size(600_000), default_batch_size(2_400_000)
    (8, 16, 64)
    """
    if model not in SCALED_MODELS or n_events <= EVENTS_PER_BASE_BATCH:
        return BASE_BATCH
    doublings = int(math.floor(math.log2(n_events / EVENTS_PER_BASE_BATCH)))
    return min(MAX_DEFAULT_BATCH, BASE_BATCH * 2 ** doublings)


def scaled_learning_rate(batch_size, base_rate=BASE_LEARNING_RATE, base_batch=BASE_BATCH):
    """`base_rate · sqrt(batch_size / base_batch)`, the square-root rule for Adam.

    Args:
        batch_size: int. B.
        base_rate: float. The rate at `base_batch`. Defaults to `BASE_LEARNING_RATE`.
        base_batch: int. Defaults to `BASE_BATCH`.

    Returns:
        float.

    Example:

    >>> round(scaled_learning_rate(64), 5)
    0.00849
    """
    return float(base_rate) * math.sqrt(batch_size / base_batch)


def describe_batch(config, n_events=None):
    """Why `config` trains with its batch size, in words (for the run's first line).

    Args:
        config: `ModelConfig`.
        n_events: int or `None`. Training events per epoch, named when given.

    Returns:
        str, e.g. `"chosen for 2,398,739 training events: 8 up to 200,000, doubling with the
        log, at most 64; learning rate 0.0085; --batch-size overrides"` or `"given explicitly"`.
    """
    if not config.batch_by_default:
        return "given explicitly"
    events = "the number of training events" if n_events is None else f"{n_events:,} training events"
    return (f"chosen for {events}: {BASE_BATCH} up to {EVENTS_PER_BASE_BATCH:,}, doubling with the log, at most "
            f"{MAX_DEFAULT_BATCH}; learning rate {config.learning_rate:.2g}; --batch-size overrides")


__all__ = ["BASE_BATCH", "BASE_LEARNING_RATE", "EVENTS_PER_BASE_BATCH", "MAX_DEFAULT_BATCH", "SCALED_MODELS",
           "default_batch_size", "describe_batch", "scaled_learning_rate"]
