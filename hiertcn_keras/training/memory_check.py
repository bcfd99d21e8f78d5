"""Memory checked before training: the peak of one step estimated from the config, compared
with what the machine has free.

A training step holds, besides the framework's own runtime: the logits of the loss and their
gradient (`[P, C + 1]` float32 with the full softmax over a catalogue of C items, `[P, M + 1]`
with M shared sampled negatives, plus up to M in-batch targets, at most one per position),
where P is the positions of a batch: B·S·L for the hierarchical models' `[B, S, L]` slots, B·T
for packed sessions (the rows' width T, read from the batches, `packed_row_width`) and for the
flat models), the activations of the user model for those P
positions, the parameters with their gradient and Adam's two moments, and the batch itself.
`estimate_step` adds these up; `check_training_memory` refuses a config whose estimate does not
fit the available memory (the smaller of the system's and the cgroup's) and says which setting
to change. docs/scale.md compares the estimate with measured peaks.

The full softmax keeps several logit-sized buffers alive at once (the matmul, the bias add and
the masked copy, the log-softmax and its gradient); `_SOFTMAX_BUFFERS` is that count, calibrated
against measured peaks (docs/scale.md).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from hiertcn_keras.data.session_packing import ROW_BUCKETS

GIB = 2**30

# Logit-sized float32 buffers alive at the peak of a full- or sampled-softmax step.
_SOFTMAX_BUFFERS = 4
# float32 values kept per position and per unit of layer width (outputs, pre-activations, masks
# and their gradients), for the activations of the user model.
_ACTIVATION_COPIES = 6
# Parameter copies during training: the weights, their gradient and Adam's two moments.
_PARAMETER_COPIES = 4
# The framework and the process itself (TensorFlow/XLA runtime, compiled step, data tables).
RUNTIME_BYTES = 1 * GIB
# Share of the available memory a step may take: the rest is left to the system and the
# evaluation's chunks.
USABLE_SHARE = 0.9


class InsufficientMemory(ValueError):
    """A training config whose estimated step peak exceeds the available memory."""


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak of one training step, by part.

    Args:
        parts: dict name → bytes (`logits`, `activations`, `parameters`, `batch`, `runtime`).
        positions: int. P, the positions (events) of one batch.
        logit_columns: int. Columns of the loss' logits (C + 1, or M + 1 sampled).
    """

    parts: dict
    positions: int
    logit_columns: int

    @property
    def total(self):
        return int(sum(self.parts.values()))

    def describe(self):
        """One line: the total and its parts in GiB."""
        parts = ", ".join(f"{name} {gib(value)}" for name, value in self.parts.items())
        return f"{gib(self.total)} ({parts})"


def gib(n_bytes):
    """`n_bytes` as a short GiB string."""
    return f"{n_bytes / GIB:.2f} GiB"


def positions_per_batch(config, row_width=None):
    """P: positions of one batch.

    Args:
        config: `ModelConfig`.
        row_width: int or `None`. T of packed sessions' rows (`packed_row_width`); `None`
            counts a packed hierarchical batch as its `[B, S, L]` slots (an upper bound).

    Returns:
        int: B·T for packed rows with `row_width`, else B·S·L (hierarchical models) or B·T
        (flat models).
    """
    if config.hierarchical:
        if row_width is not None and config.packed_sessions:
            return config.batch_size * int(row_width)
        return config.batch_size * config.sessions_per_batch * config.max_session_len
    return config.batch_size * config.flat_chunk_len


def narrowest_row(config):
    """The smallest T packed rows take (`ROW_BUCKETS[0]`, or S·L when that is less): a lower
    bound of the positions, known before any batch is planned."""
    return min(ROW_BUCKETS[0], config.sessions_per_batch * config.max_session_len)


def packed_row_width(batcher, sample=64, max_sessions=200_000):
    """T of a packed batcher's rows: the widest of up to `sample` batches spread over epoch 0's plan.

    Args:
        batcher: `QueueBatcher`.
        sample: int. Batches looked at (their layout only, nothing gathered).
        max_sessions: int. At most this many session slots laid out in all (fewer batches for
            large batch sizes; at least one).

    Returns:
        int T, or `None` when the batcher's table is not packed.
    """
    table = batcher.table
    if not hasattr(table, "width_of"):
        return None
    plan = list(batcher.plan(0))
    if not plan:
        return None
    slots = batcher.batch_size * batcher.units_per_batch
    count = max(1, min(sample, len(plan), max_sessions // slots))
    picks = np.unique(np.linspace(0, len(plan) - 1, num=count).astype(int))
    return max(int(table.width_of(plan[i])) for i in picks)


def _widths(config):
    """Summed layer widths per position of the user model (its activations)."""
    if config.model == "hiertcn":
        return config.embedding_dim + 2 * sum(config.tcn_channels) + sum(config.high_units)
    if config.model == "hiergru":
        return config.embedding_dim + 4 * sum(config.low_gru_units) + sum(config.high_units)
    if config.model == "hrnn":
        return config.embedding_dim + 8 * config.hrnn_units
    if config.model == "tcn":
        return config.embedding_dim + 2 * sum(config.flat_tcn_channels)
    if config.model == "gru4rec":
        return config.embedding_dim + 4 * sum(config.gru4rec_units)
    return config.embedding_dim + 4 * sum(config.flat_gru_units)


def _layer_parameters(config):
    """Weights of the user model besides the item tables (a close upper bound)."""
    def gru(inputs, units):
        total = 0
        for width in units:
            total += 3 * (inputs + width + 2) * width
            inputs = width
        return total

    def tcn(inputs, channels):
        total = 0
        for width in channels:
            total += config.kernel_size * inputs * width + 2 * inputs * width
            inputs = width
        return total

    d = config.embedding_dim
    if config.model == "hiertcn":
        return tcn(d, config.tcn_channels) + gru(config.tcn_channels[-1], config.high_units) + 4 * d * d
    if config.model == "hiergru":
        return gru(d, config.low_gru_units) + gru(config.low_gru_units[-1], config.high_units) + 4 * d * d
    if config.model == "hrnn":
        return 2 * gru(d, (config.hrnn_units,)) + 4 * d * d
    if config.model == "tcn":
        return tcn(d, config.flat_tcn_channels) + 4 * d * d
    if config.model == "gru4rec":
        return gru(d + 1, config.gru4rec_units) + 4 * d * d
    return gru(d, config.flat_gru_units) + 4 * d * d


def estimate_step(config, *, batch_bytes=None, item_dim=None, row_width=None):
    """The estimated peak memory of one training step of `config`.

    Args:
        config: `ModelConfig`.
        batch_bytes: int or `None`. Bytes of one batch (the queue batcher's arrays); `None`
            estimates 32 bytes per position.
        item_dim: int or `None`. D of the frozen pretrained item vectors; `None`: `output_dim`.
        row_width: int or `None`. T of packed sessions' rows (see `positions_per_batch`).

    Returns:
        A `MemoryEstimate`.
    """
    positions = positions_per_batch(config, row_width)
    catalogue_rows = config.n_catalogue + 1
    if config.loss == "softmax":
        columns = catalogue_rows
    elif config.loss == "sampled_softmax":  # in-batch negatives: up to M of the batch's targets, one per position
        columns = config.n_negatives + 1 + (min(config.n_negatives, positions) if config.in_batch_negatives else 0)
    else:  # pairwise losses of the pretrained space: a score per negative
        columns = config.n_negatives + 1
    logits = _SOFTMAX_BUFFERS * 4 * positions * columns
    activations = _ACTIVATION_COPIES * 4 * positions * _widths(config)
    trainable = _layer_parameters(config)
    frozen = 0
    if config.item_space == "learned":
        trainable += config.n_items * config.embedding_dim + catalogue_rows * (config.output_dim + 1)
    else:
        frozen = config.n_items * (item_dim or config.output_dim)
    parameters = 4 * (_PARAMETER_COPIES * trainable + frozen)
    batch = int(batch_bytes) if batch_bytes is not None else 32 * positions
    parts = {"logits": logits, "activations": activations, "parameters": parameters,
             "batch": 3 * batch, "runtime": RUNTIME_BYTES}  # the batch: one in use, two prefetched
    return MemoryEstimate(parts, positions, columns)


def _read_int(path):
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_free():
    """Bytes the process' cgroup still allows (v2 `memory.max`, v1 `limit_in_bytes`), or `None`."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            return max(limit - usage, 0)
    return None


def available_bytes():
    """Memory a new allocation can take now: the smaller of the system's available memory
    (psutil, else `MemAvailable` of /proc/meminfo) and what the cgroup limit leaves; `None`
    when neither can be read."""
    system = None
    try:
        import psutil

        system = int(psutil.virtual_memory().available)
    except ImportError:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    system = int(line.split()[1]) * 1024
        except OSError:
            pass
    values = [v for v in (system, _cgroup_free()) if v is not None]
    return min(values) if values else None


def _largest_fitting_batch(config, budget, **kwargs):
    """The largest batch size ≤ B whose estimate fits `budget`, or 0."""
    low, high = 0, config.batch_size
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_step(config.replace(batch_size=middle), **kwargs).total <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def fits(config, *, available=None):
    """Whether the estimated step of `config` fits `USABLE_SHARE` of the available memory.

    Args:
        config: `ModelConfig`.
        available: int or `None`. Bytes available; `None` reads them (`available_bytes`).

    Returns:
        bool; `True` when the available memory cannot be read.
    """
    available = available_bytes() if available is None else available
    return available is None or estimate_step(config).total <= int(USABLE_SHARE * available)


def check_training_memory(config, *, available=None, batch_bytes=None, item_dim=None, row_width=None):
    """Refuse a training config whose estimated step peak exceeds the available memory.

    Args:
        config: `ModelConfig`.
        available: int or `None`. Bytes available; `None` reads them (`available_bytes`).
        batch_bytes: int or `None`. Bytes of one batch (see `estimate_step`).
        item_dim: int or `None`. D of frozen pretrained vectors.
        row_width: int or `None`. T of packed sessions' rows (`packed_row_width`); the
            suggested batch size assumes the same T.

    Returns:
        The `MemoryEstimate` (also when the available memory cannot be read).

    Raises:
        InsufficientMemory: the estimate exceeds `USABLE_SHARE` of the available memory; the
            message gives both and the settings that would fit (`--batch-size`,
            `--loss sampled_softmax`, `--negatives`).
    """
    kwargs = {"batch_bytes": None, "item_dim": item_dim, "row_width": row_width}
    estimate = estimate_step(config, batch_bytes=batch_bytes, item_dim=item_dim, row_width=row_width)
    available = available_bytes() if available is None else available
    if available is None:
        return estimate
    budget = int(USABLE_SHARE * available)
    if estimate.total <= budget:
        return estimate
    hints = []
    fitting = _largest_fitting_batch(config, budget, **kwargs)
    if fitting >= 1:
        hints.append(f"--batch-size {fitting} or less")
    else:
        hints.append("a smaller --batch-size")
    if config.loss == "softmax":
        # The sampled softmax with its own default negatives (a softmax config's are unused).
        sampled_config = config.replace(loss="sampled_softmax", n_negatives=None, negative_distribution=None,
                                        in_batch_negatives=None)
        sampled = estimate_step(sampled_config, **kwargs)
        in_batch = " and in-batch negatives" if sampled_config.in_batch_negatives else ""
        hints.append(f"--loss sampled_softmax (about {gib(sampled.total)} with --negatives "
                     f"{sampled_config.n_negatives}{in_batch})")
    elif config.n_negatives > 1 and estimate.parts["logits"] > estimate.total / 2:
        hints.append(f"fewer --negatives than {config.n_negatives}")
    shape = f"[{estimate.positions:,} positions × {estimate.logit_columns:,} columns]"
    raise InsufficientMemory(
        f"one training step of {config.model} with --loss {config.loss} and --batch-size "
        f"{config.batch_size} needs about {estimate.describe()}, logits {shape}; this machine has "
        f"{gib(available)} available ({int(USABLE_SHARE * 100)}% usable). Use "
        + "; or ".join(hints) + ". (--no-memory-check skips this check.)"
    )


def is_allocation_failure(error):
    """Whether `error` is an out-of-memory failure of Python, TensorFlow, JAX or PyTorch."""
    if isinstance(error, MemoryError):
        return True
    name = type(error).__name__
    if name in ("ResourceExhaustedError", "OutOfMemoryError"):
        return True
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text


def allocation_failure_message(error):
    """The CLI's message for an allocation failure that the estimate did not prevent."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return (f"out of memory during training ({type(error).__name__}: {first}). "
            "Lower --batch-size, or use --loss sampled_softmax, or fewer --negatives.")


__all__ = ["InsufficientMemory", "MemoryEstimate", "available_bytes", "estimate_step", "fits",
           "check_training_memory", "is_allocation_failure", "allocation_failure_message",
           "narrowest_row", "packed_row_width", "positions_per_batch"]
