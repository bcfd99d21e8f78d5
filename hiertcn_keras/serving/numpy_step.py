"""`NumpyStep`: `UserStep`'s contract computed in NumPy, on the real positions of the users only.

Shape legend: Q users, L steps per session, D item dim, H high-level state size, E user-embedding
size, P the positions of a call (Σ over users of `m + 1`, m a user's open-session length), C
channels, k the TCN kernel width.

A compiled `UserStep` call pads every row of a request to the bucket of its longest session and
the rows to a batch bucket: ten users of sessions of about five items cost a `[16, 16]` call, 256
positions of which about 40 are real, plus the call's fixed cost (about 1 ms of CPU on the
development machine, more than the arithmetic of a one-row update). `NumpyStep` runs the same
layers with the same weights as a few NumPy matrix products over the *packed* positions: every
user's `[x̂, a1..am]` laid end to end, each convolution tap that reaches before its user's
session start reading zero (the left padding that user's row would get alone), exactly what
`TemporalBlock` does with packed segments. Per call:

- one lookup of every item it needs: in the served catalogue's memory-mapped vectors when they
  are the model's item table (the pretrained item space; compared at start), else in the
  model's table, copied into NumPy once when it is at most 64 MiB, a larger one gathered from
  per call (one TensorFlow op), never copied;
- the fold of the users that start a session: mean item vector → the `session_input` Dense →
  the high level's stacked GRU cells (`reset_after` either way) → the decay factor;
- the low level: the `low_projection` Dense of `[item, context]` (computed as `item · W_item +
  context · W_context`, the context part once per user), the TCN's blocks (each convolution one
  `[P, k·C] × [k·C, C]` product over gathered taps; `downsample` Dense where widths differ;
  `relu(h + r)`), the output Dense and the last-item residual.

Only HierTCN (its TCN low level) and the activations `linear`, `relu`, `tanh` and `sigmoid` are
supported; anything else is refused with `ValueError` at construction (`OnlineRecommender`'s
`step="auto"` then uses the compiled `UserStep`). The arithmetic is float32 like the graph's,
summed in another order: results equal the Keras graph's to about 1e-6 (tested to 1e-5 on every
bucket, states and embeddings, with and without fold, decay and residual, in
`tests/serving/test_numpy_step.py`); `verify()` checks a probe batch against the eager graph
(`OnlineRecommender` does at start).
"""

from __future__ import annotations

import keras
import numpy as np

from hiertcn_keras.serving.user_step import BATCH_BUCKETS, StepBatch, check_inputs, check_positions, decay_factor

_ACTIVATIONS = {
    "linear": None,
    "relu": lambda x: np.maximum(x, np.float32(0.0)),
    "tanh": np.tanh,
    "sigmoid": lambda x: np.float32(1.0) / (np.float32(1.0) + np.exp(-x)),
}


def _activation(layer, fn):
    """The NumPy function of a Keras activation (`None` = identity); `ValueError` for others."""
    name = keras.activations.serialize(fn)
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(f"NumpyStep: activation {name!r} of layer {layer.name!r} is not supported")
    return _ACTIVATIONS[name]


COPY_TABLE_BYTES = 64 * 2**20


def _row_lookup(variable, copy_table_bytes):
    """`rows(indices)`: rows of the item table as a NumPy array.

    A table of at most `copy_table_bytes` (default `COPY_TABLE_BYTES`, 64 MiB: 131,072 items
    of 128 float32) is copied into NumPy once and indexed there. A larger one is not copied (a
    1M-item table is 512 MiB): each call gathers only its rows. `keras.ops.take` on a
    TensorFlow variable would first convert the whole table, on every call; the variable's own
    `sparse_read` is one small op. Other backends take from the variable's value (a device
    array, not a copy).
    """
    if int(np.prod(variable.shape)) * 4 <= copy_table_bytes:
        table = _array(variable)
        return lambda indices: table[indices]
    value = variable.value
    if keras.backend.backend() == "tensorflow" and hasattr(value, "sparse_read"):
        return lambda indices: value.sparse_read(indices).numpy()
    return lambda indices: keras.ops.convert_to_numpy(keras.ops.take(value, indices, axis=0))


def _equal_table(variable, table, chunk=65536):
    """Whether `table` holds exactly the rows `1..` of the variable (row 0, the padding, is never read)."""
    if tuple(table.shape) != tuple(variable.shape):
        return False
    rows = _row_lookup(variable, 0)  # chunks gathered, the table never read whole
    for start in range(1, int(table.shape[0]), chunk):
        stop = min(int(table.shape[0]), start + chunk)
        if not np.array_equal(np.asarray(rows(np.arange(start, stop, dtype=np.int32))), table[start:stop]):
            return False
    return True


def _array(variable):
    return np.ascontiguousarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)


class _Dense:
    """A Keras `Dense` as `x @ kernel + bias`, then its activation."""

    def __init__(self, layer):
        self.kernel = _array(layer.kernel)
        self.bias = _array(layer.bias) if layer.use_bias else None
        self.activation = _activation(layer, layer.activation)

    def __call__(self, x):
        y = x @ self.kernel
        if self.bias is not None:
            y += self.bias
        return y if self.activation is None else self.activation(y)


class _GRUCell:
    """A Keras `GRUCell` (inference: no dropout), either `reset_after`."""

    def __init__(self, cell):
        self.units = int(cell.units)
        u = self.units
        self.kernel, self.recurrent = _array(cell.kernel), _array(cell.recurrent_kernel)
        self.reset_after = bool(cell.reset_after)
        # Contiguous column blocks: a product with a strided slice would copy it on every call.
        self.recurrent_gates = np.ascontiguousarray(self.recurrent[:, : 2 * u])
        self.recurrent_candidate = np.ascontiguousarray(self.recurrent[:, 2 * u :])
        bias = _array(cell.bias) if cell.use_bias else None
        if bias is None:
            self.input_bias = self.recurrent_bias = None
        elif self.reset_after:
            self.input_bias, self.recurrent_bias = bias[0], bias[1]
        else:
            self.input_bias, self.recurrent_bias = bias, None
        self.activation = _activation(cell, cell.activation) or (lambda x: x)
        self.gate = _activation(cell, cell.recurrent_activation) or (lambda x: x)

    def __call__(self, x, h):
        u = self.units
        mx = x @ self.kernel
        if self.input_bias is not None:
            mx += self.input_bias
        if self.reset_after:
            inner = h @ self.recurrent
            if self.recurrent_bias is not None:
                inner += self.recurrent_bias
        else:
            inner = h @ self.recurrent_gates
        z = self.gate(mx[:, :u] + inner[:, :u])
        r = self.gate(mx[:, u : 2 * u] + inner[:, u : 2 * u])
        if self.reset_after:
            candidate = r * inner[:, 2 * u :]
        else:
            candidate = (r * h) @ self.recurrent_candidate
        hh = self.activation(mx[:, 2 * u :] + candidate)
        return z * h + (np.float32(1.0) - z) * hh


class _Block:
    """A `TemporalBlock` over packed positions: causal dilated convolutions, residual, ReLU."""

    def __init__(self, block):
        self.shifts = [(block.kernel_size - 1 - j) * block.dilation_rate for j in range(block.kernel_size)]
        self.convs = []
        for conv in block.convs:
            kernel = _array(conv.kernel)  # [k, C_in, C_out]
            self.convs.append((kernel.reshape(-1, kernel.shape[-1]), _array(conv.bias),
                               _activation(conv, conv.activation)))
        self.downsample = _Dense(block.downsample) if block.downsample is not None else None

    def __call__(self, x, within):
        """`x` `[P, C]`; `within` `[P]` each position's step within its user's session."""
        h, n = x, len(x)
        # Tap j reads the position `shift` earlier, or a zero row (index n) before the session's start.
        shifts = np.asarray(self.shifts)[None, :]
        taps = np.where(within[:, None] >= shifts, np.arange(n)[:, None] - shifts, n)
        padded = np.zeros((n + 1, 0), np.float32)
        for kernel, bias, activation in self.convs:
            if padded.shape[1] != h.shape[1]:
                padded = np.zeros((n + 1, h.shape[1]), np.float32)
            padded[:n] = h
            y = padded[taps].reshape(n, -1) @ kernel + bias
            h = y if activation is None else activation(y)
        r = x if self.downsample is None else self.downsample(x)
        return np.maximum(h + r, np.float32(0.0))


class NumpyStep:
    """The fused fold + low-level update of HierTCN users in NumPy, over packed positions.

    The same contract as `user_step.UserStep` (`__call__`, `many`, `many_at`, `warm`), and the
    same numbers to float32 rounding; see the module docstring for how and why.

    Args:
        online: `OnlineModel` of a HierTCN run.
        copy_table_bytes: int or `None`. The largest item table copied into NumPy at start
            (larger ones are gathered from per call, never copied). `None` (default):
            `COPY_TABLE_BYTES`, 64 MiB.
        table: float array `[n_items, D]` or `None`. An array that may hold the model's item
            table (the served catalogue's memory-mapped vectors, in the pretrained item
            space): compared with it row by row at start, and indexed in place of the
            model's table when equal (no copy, no per-call gather). Defaults to `None`.

    Attributes:
        table_source: str. Where item vectors are read: `given` (the `table` argument),
            `copy` (the model's table copied) or `gather` (gathered from the model's table per
            call).

    Raises:
        ValueError: the model is not HierTCN, or uses an activation not listed in the module.

    Example:

    >>> step = NumpyStep(OnlineModel(recommender))                      # doctest: +SKIP
    >>> step(context, finished=[3, 7], gap=5400.0, session=[9]).embedding.shape
    (128,)
    """

    compiled = False
    #: Functions traced and compiled: none (the contract of `UserStep.traces`).
    traces = 0
    #: Row buckets: none are needed; `OnlineRecommender.warm` searches once per entry.
    batch_sizes = BATCH_BUCKETS

    def __init__(self, online, *, copy_table_bytes=None, table=None):
        if online.config.model != "hiertcn":
            raise ValueError(f"NumpyStep computes HierTCN's TCN low level; this run is {online.config.model!r}")
        steps = online.steps
        self.online = online
        self.config = online.config
        self.max_session_len = online.max_session_len
        self.state_size = online.state_size
        self.output_dim = online.output_dim
        self._n_items = int(steps.embedding.table.shape[0])
        if table is not None and _equal_table(steps.embedding.table, table):
            self._rows, self.table_source = (lambda indices: table[indices]), "given"
        else:
            if copy_table_bytes is None:
                copy_table_bytes = COPY_TABLE_BYTES
            self._rows = _row_lookup(steps.embedding.table, int(copy_table_bytes))
            small = int(np.prod(steps.embedding.table.shape)) * 4 <= copy_table_bytes
            self.table_source = "copy" if small else "gather"
        self._dim = int(steps.embedding.dim)
        self._session_input = _Dense(steps.session_input)
        self._cells = [_GRUCell(cell) for cell in steps.high_level.cells]
        projection = _Dense(steps.projection)
        self._project_item = projection.kernel[: self._dim]
        self._project_context = projection.kernel[self._dim :]
        self._project_bias = projection.bias
        self._project_activation = projection.activation
        tcn = steps.low_level_layer
        if not hasattr(tcn, "blocks"):
            raise ValueError(f"NumpyStep needs the TCN low level, got {type(tcn).__name__}")
        self._blocks = [_Block(block) for block in tcn.blocks]
        self._output = _Dense(steps.output)
        self._residual = _Dense(steps.residual) if steps.residual is not None else None

    def warm(self):
        """Nothing to compile: returns 0 (the number of compiled functions, as `UserStep.warm`)."""
        return 0

    def _vectors(self, items):
        """Item vectors `[n, D]` of model indices (0 → the zero vector), one lookup in the table."""
        items = np.asarray(items, np.int32)
        if not len(items):
            return np.zeros((0, self._dim), np.float32)
        unique, inverse = np.unique(items, return_inverse=True)
        rows = np.asarray(self._rows(unique), np.float32)
        rows = np.where((unique != 0)[:, None], rows, np.float32(0.0))
        return rows[inverse.reshape(-1)]

    def _fold(self, contexts, rows, lengths, items, vectors, gaps):
        """The contexts after folding the finished sessions of users `rows` (the others as they are).

        `items` `[n]`, `vectors` `[n, D]`: the finished sessions' items laid end to end, `lengths`
        `[len(rows)]` items each.
        """
        # AGG: the mean of the session's nonzero items (SessionPooling; an empty session gives 0).
        owner = np.repeat(np.arange(len(rows)), lengths)
        member = ((owner[None, :] == np.arange(len(rows))[:, None]) & (items != 0)[None, :]).astype(np.float32)
        agg = (member @ vectors) / np.maximum(member.sum(axis=1), np.float32(1.0))[:, None]
        x = self._session_input(agg)
        state = contexts[rows]
        new, offset = [], 0
        for cell in self._cells:
            x = cell(x, state[:, offset : offset + cell.units])
            offset += cell.units
            new.append(x)
        folded = np.concatenate(new, axis=1) if len(new) > 1 else new[0]
        decay = np.array([decay_factor(self.config, gaps[q]) for q in rows], np.float32)
        out = contexts.copy()
        out[rows] = folded * decay[:, None]
        return out

    def _low_level(self, contexts, starts, items, vectors):
        """`u` `[P, E]` at every packed position (user q's positions `starts[q]..starts[q + 1] − 1`)."""
        lengths = np.diff(starts)
        owner = np.repeat(np.arange(len(lengths)), lengths)
        within = np.arange(len(items)) - starts[owner]
        x = vectors @ self._project_item + (contexts @ self._project_context)[owner]
        if self._project_bias is not None:
            x += self._project_bias
        if self._project_activation is not None:
            x = self._project_activation(x)
        for block in self._blocks:
            x = block(x, within)
        u = self._output(x)
        if self._residual is not None:
            u += self._residual(vectors)
        return u

    def _run(self, contexts, finished, gaps, sessions):
        """`(context [Q, H], u [P, E], starts [Q + 1])`: one table lookup for the folds and the low level."""
        q = len(sessions)
        contexts = check_inputs(self.max_session_len, self.state_size, contexts, finished, gaps, sessions)
        if not q:
            return contexts, np.zeros((0, self.output_dim), np.float32), np.zeros(1, np.int64)
        # The low level's packed inputs: `[x̂ = 0, a1..am]` per user, end to end.
        starts = np.zeros(q + 1, np.int64)
        np.cumsum([len(s) + 1 for s in sessions], out=starts[1:])
        low_items = np.zeros(int(starts[-1]), np.int64)
        for row, session in enumerate(sessions):
            low_items[starts[row] + 1 : starts[row + 1]] = session
        rows = [row for row, items in enumerate(finished) if items is not None]
        fold_lengths = np.array([len(finished[row]) for row in rows], np.int64)
        fold_items = np.fromiter((i for row in rows for i in finished[row]), np.int64, int(fold_lengths.sum()))
        vectors = self._vectors(np.concatenate([low_items, fold_items]))
        if rows:
            contexts = self._fold(contexts, rows, fold_lengths, fold_items, vectors[len(low_items) :], gaps)
        return contexts, self._low_level(contexts, starts, low_items, vectors[: len(low_items)]), starts

    def __call__(self, context, finished, gap, session):
        """Update one user for one event (see `UserStep.__call__`): a `StepResult`."""
        return self.many(np.asarray(context, np.float32)[None], [finished], [gap], [session]).row(0)

    def many(self, contexts, finished, gaps, sessions):
        """Update Q users (see `UserStep.many`): a `StepBatch`."""
        lengths = np.fromiter((len(s) for s in sessions), np.int64, len(sessions))
        context, u, starts = self._run(contexts, finished, gaps, sessions)
        at = starts[:-1] + lengths
        return StepBatch(context, u[at], u[starts[:-1] + np.maximum(lengths - 1, 0)], lengths)

    def many_at(self, contexts, finished, gaps, sessions, positions):
        """Embeddings at given positions of each user's open session (see `UserStep.many_at`)."""
        check_positions(positions, sessions)
        context, u, starts = self._run(contexts, finished, gaps, sessions)
        return context, [u[starts[q] + np.asarray(p, np.int64)] for q, p in enumerate(positions)]

    def verify(self, graph_step, *, seed=0, atol=1e-5):
        """Check this step against another implementation (the eager Keras graph) on a probe batch.

        The probe: users with and without a fold (gaps 0 to a day), sessions of every length
        0..L, random contexts, random items.

        Args:
            graph_step: an object with `many(contexts, finished, gaps, sessions)` (e.g.
                `UserStep(online, compiled=False)`).
            seed: int. The probe's seed.
            atol: float. The largest absolute difference accepted.

        Returns:
            float. The largest absolute difference found (states and embeddings).

        Raises:
            ValueError: a difference above `atol`.
        """
        rng = np.random.default_rng(seed)
        L, H = self.max_session_len, self.state_size
        n_items = self._n_items
        sessions = [rng.integers(1, n_items, m).tolist() for m in range(L + 1)]
        finished = [rng.integers(1, n_items, rng.integers(1, L + 1)).tolist() if q % 2 else None
                    for q in range(len(sessions))]
        gaps = [float(rng.uniform(0, 86400)) if f is not None else None for f in finished]
        contexts = rng.normal(scale=0.5, size=(len(sessions), H)).astype(np.float32)
        ours = self.many(contexts, finished, gaps, sessions)
        theirs = graph_step.many(contexts, finished, gaps, sessions)
        worst = max(float(np.max(np.abs(getattr(ours, name) - getattr(theirs, name))))
                    for name in ("context", "embedding", "prior_embedding"))
        if not worst <= atol:
            raise ValueError(f"NumpyStep differs from the Keras graph by {worst:g} (> {atol:g})")
        return worst
