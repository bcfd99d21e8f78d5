"""Data-parallel training with `tf.distribute`: several local devices or several machines.

Strategies (`TrainConfig.strategy`, `hiertcn train --strategy`):

- `default`: no strategy, one device (the path every other module takes);
- `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU, or over every logical CPU
  device when there is no GPU (one replica on a plain CPU machine);
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy`; the cluster and this process's
  place in it come from the `TF_CONFIG` environment variable (docs/distributed.md).

Shape legend: B the global batch (queues, `ModelConfig.batch_size`), N replicas in sync,
b = B / N rows per replica, H the carried state size.

**The carried state under a strategy.** A queue row carries its high-level state from batch
to batch (`HighLevelGRU`, `CarriedGRU`). With N replicas, replica r always receives the SAME
rows `r·b .. r·b + b − 1` of every global batch (its own queues), and keeps their state in its
own copy of the state variable `[b, H]`. Two things make that so:

1. *Rows.* Every worker builds the same global queue plan (same data, same seeded shuffle, so
   the same number of batches: collective ops need every worker to run every step) and feeds
   each of its replicas only that replica's block of rows, through
   `strategy.distribute_datasets_from_function`: the per-worker dataset yields, for every
   global batch, one element per local replica in replica order, which tf.data's multi-device
   iterator hands out round-robin, i.e. element k to local replica k.
2. *State.* A mirrored variable would be averaged (or overwritten by replica 0) on every
   assign. The layers mark their carried state with `aggregation="only_first_replica"`, and
   `per_replica_states()` creates such non-trainable variables as sync-on-read variables:
   every replica reads and assigns its own `[b, H]` copy with no communication; a read outside
   the replicas (a checkpoint) sees replica 0's copy, and an assignment there (a reset, a
   restore) writes every copy. The state is never needed across epochs (every non-empty row
   starts an epoch with a user start), so a checkpoint that keeps one copy loses nothing.

**The loss.** The single-process loss is a mean over the scored events of the whole batch;
replica r only sees its own rows. Keras sums the replicas' gradients, so replica r returns
its masked mean times `w_r / w` (its scored events over the global count, one all-reduce):
the sum over replicas is exactly the global masked mean, and Keras' loss tracker (which
multiplies by N and weighs each replica by b) logs the same number as a single-process run.
A distributed step is therefore the same computation as a single-process step on the same B
rows, up to float summation order, and takes the same learning rate.

**What is saved.** The replicas' model is built for b rows inside the strategy's scope; the run
directory gets a plain twin built for B rows outside it, with the trained weights copied over,
so `model.keras`, evaluation and serving are exactly those of a single-process run.

Keras' `BackupAndRestore` checkpoints every epoch: each worker keeps its own backup next to its
own run directory, and a job started again with the same commands resumes from the last
completed epoch on every worker.

Why this way (Keras 3.15, TF 2.21): carrying the state through the model's inputs and outputs
instead would change every model's signature and the serving path; a per-worker batcher
(worker w planning only queues w, w + N, ...) would give the workers different numbers of
batches, which collective all-reduces cannot take. Sync-on-read variables are what Keras
itself uses for per-replica metric state. Two Keras quirks are worked around here, each where
it bites: `fit`'s symbolic-build peek at a distributed batch (`ReplicaRecommender`), and its
scalar-metric reduction across workers (tensorflow/tensorflow#72388).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from hiertcn_keras.data.session_packing import padded_table
from hiertcn_keras.models.recommender import Recommender, build_recommender
from hiertcn_keras.training.train_config import STRATEGIES


def make_strategy(name):
    """The `tf.distribute.Strategy` named by `name`, or `None` for `"default"`.

    Create it first thing in the program: `MultiWorkerMirroredStrategy` must be made before
    TensorFlow runs any op. A process makes each strategy once and reuses it for every later
    run: with a second `MirroredStrategy` in the same process, the second run's gradient
    all-reduce met the first run's ("Shape mismatch in the collective instance": 367,725
    floats against 1,933, the sizes of the two models; measured with TF 2.21).

    Args:
        name: str. `default`, `mirrored` or `multi-worker`.

    Returns:
        A strategy, or `None` (no strategy).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "default":
        return None
    if name not in _MADE:
        _MADE[name] = _new_strategy(name)
    return _MADE[name]


_MADE = {}


def _new_strategy(name):
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    config = os.environ.get("TF_CONFIG")
    if not config:
        raise ValueError("--strategy multi-worker needs TF_CONFIG (the cluster and this worker's task); "
                         "see docs/distributed.md")
    try:
        json.loads(config)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {config!r}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


@dataclasses.dataclass(frozen=True)
class ReplicaLayout:
    """How the B rows of a global batch are split over the N replicas.

    Args:
        batch_size: int. B, the global batch (queues).
        n_replicas: int. N, replicas in sync.
    """

    batch_size: int
    n_replicas: int

    def __post_init__(self):
        if self.n_replicas < 1:
            raise ValueError(f"n_replicas must be ≥ 1, got {self.n_replicas}")
        if self.batch_size % self.n_replicas:
            raise ValueError(
                f"the global batch size (queues) must be divisible by the number of replicas: got "
                f"batch_size={self.batch_size} for {self.n_replicas} replicas; use a multiple of "
                f"{self.n_replicas}")

    @property
    def rows_per_replica(self):
        """b = B / N."""
        return self.batch_size // self.n_replicas

    def rows(self, replica):
        """The rows of the global batch that replica `replica` always receives."""
        b = self.rows_per_replica
        return slice(replica * b, (replica + 1) * b)


@contextlib.contextmanager
def per_replica_states():
    """Variables created in this scope that are marked as carried state are per replica.

    A carried state is a non-trainable variable created with `aggregation="only_first_replica"`
    (`HighLevelGRU`, `CarriedGRU`); here it becomes sync-on-read (module docstring). Use it
    inside `strategy.scope()`, around building the model only.
    """

    def creator(next_creator, **kwargs):
        if (not kwargs.get("trainable", True)
                and kwargs.get("aggregation") == tf.VariableAggregation.ONLY_FIRST_REPLICA):
            kwargs["synchronization"] = tf.VariableSynchronization.ON_READ
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        yield


def carried_state_variables(model):
    """The model's carried-state variables (non-trainable, marked `only_first_replica`)."""
    return [v for v in model.non_trainable_variables if v.aggregation == "only_first_replica"]


def _check_states_are_marked(model):
    """Refuse a layer that carries per-row state (it has a `batch_size`) in an unmarked variable.

    A strategy would mirror such a variable: averaged over the replicas at every assign,
    mixing rows of different queues.
    """
    for layer in model._flatten_layers():  # noqa: SLF001 (Keras' own walk over nested layers)
        if not isinstance(getattr(layer, "batch_size", None), int):
            continue
        unmarked = [v.path for v in layer.non_trainable_variables  # rows × features, as a state is
                    if len(v.shape) == 2 and v.shape[0] == layer.batch_size and v.aggregation != "only_first_replica"]
        if unmarked:
            raise ValueError(
                f"layer {layer.name!r} ({type(layer).__name__}) carries per-row state in {unmarked}, not marked "
                "aggregation='only_first_replica': it cannot be trained with a distribution strategy yet")


@keras.saving.register_keras_serializable(package="hiertcn")
class ReplicaRecommender(Recommender):
    """`Recommender` whose per-replica loss sums to the global masked mean (module docstring).

    Attributes:
        build_batch: dict of arrays, a per-replica padding batch set by `Replicas.build`.
    """

    build_batch = None
    several_workers = False

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        metrics = super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if not self.several_workers:
            return metrics
        # With several workers Keras averages every step's metrics with
        # `strategy.reduce(MEAN, value, axis=0)`, which fails on scalars
        # (tensorflow/tensorflow#72388): hand them over as [1] (the reduction makes them scalars).
        return {key: ops.reshape(value, (1,)) for key, value in metrics.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a strategy Keras' `fit` peeks at one distributed batch and averages it over the
        # replicas to build the model symbolically, which fails on bool inputs (masks) and
        # would start a pass over the data (one seeded shuffle too many). The model is built
        # already: give Keras a padding batch of the same structure instead, so that it only
        # builds the optimizer.
        if iterator is not None and self.build_batch is not None:
            iterator, data_batch = None, self.build_batch
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        local = ops.sum(ops.cast(x["score"], loss.dtype))
        context = tf.distribute.get_replica_context()
        total = local if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, local)
        # A constant of the data; the collective's result has no static shape, hence the reshape.
        share = ops.stop_gradient(ops.divide_no_nan(local, ops.reshape(total, ())))
        return loss * share


def replica_dataset(batcher, layout, input_context, epochs, *, prefetch=2):
    """The per-worker dataset: for every global batch, the blocks of this worker's replicas.

    Args:
        batcher: `QueueBatcher` with the GLOBAL batch size B (every worker plans all queues).
        layout: `ReplicaLayout`.
        input_context: `tf.distribute.InputContext` of this worker's input pipeline.
        epochs: iterator of epoch numbers: each pass over the dataset (each Keras epoch) takes
            the next one for its seeded shuffle, as `make_dataset` does.
        prefetch: int. Defaults to 2.

    Returns:
        `tf.data.Dataset` of dicts of `[b, ...]` tensors.
    """
    if batcher.batch_size != layout.batch_size:
        raise ValueError(f"batcher has {batcher.batch_size} queues, the layout {layout.batch_size}")
    if input_context.num_replicas_in_sync != layout.n_replicas:
        raise ValueError(f"layout is for {layout.n_replicas} replicas, the strategy has "
                         f"{input_context.num_replicas_in_sync}")
    per_pipeline = layout.n_replicas // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * per_pipeline
    local = [layout.rows(r) for r in range(first, first + per_pipeline)]
    # Every replica's block must have one shape: packed sessions train padded here.
    table = padded_table(batcher.table)
    sample = table.gather(np.full((layout.rows_per_replica, batcher.units_per_batch), -1))
    signature = {key: tf.TensorSpec(value.shape, tf.as_dtype(value.dtype)) for key, value in sample.items()}

    def generator():
        for index in batcher.plan(next(epochs)):
            for rows in local:
                yield table.gather(index[rows])

    return tf.data.Dataset.from_generator(generator, output_signature=signature).prefetch(prefetch)


def copy_weights(source, target, strategy):
    """Copy the weights of the replicas' model `source` into its twin `target` (B rows).

    A carried state (b rows per replica, B in the twin) is copied as the concatenation of the
    replicas' copies in replica order when they are all local (one worker), so that the twin
    continues exactly where the replicas stopped; with several workers it is left alone (every
    evaluation and every epoch starts the states from zero anyway).
    """
    if len(source.weights) != len(target.weights):
        raise ValueError(f"{source.name} has {len(source.weights)} weights, {target.name} {len(target.weights)}")
    for s, t in zip(source.weights, target.weights):
        if tuple(s.shape) == tuple(t.shape):
            t.assign(np.asarray(s.numpy()))
        elif s.aggregation != "only_first_replica" or tuple(s.shape[1:]) != tuple(t.shape[1:]):
            raise ValueError(f"weight {s.path} {tuple(s.shape)} does not fit {t.path} {tuple(t.shape)}")
        else:
            copies = strategy.experimental_local_results(s.value)
            if len(copies) == strategy.num_replicas_in_sync:
                t.assign(np.concatenate([np.asarray(c) for c in copies]))


def worker_task(strategy):
    """`(task_type, task_id, is_chief)` of this process (`("worker", 0, True)` without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not spec:
        return "worker", 0, True
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)
    return task_type, task_id, chief


def worker_run_dir(out_dir, strategy):
    """Where this worker writes: `out_dir` on the chief, `OUT_DIR.worker-K` on worker K."""
    task_type, task_id, chief = worker_task(strategy)
    out_dir = Path(out_dir)
    return out_dir if chief else out_dir.with_name(f"{out_dir.name}.{task_type}-{task_id}")


def describe(strategy, layout):
    """What a run directory records about the distribution (`config.json` → `distribution`)."""
    task_type, task_id, chief = worker_task(strategy)
    return {
        "strategy": type(strategy).__name__,
        "replicas": layout.n_replicas,
        "workers": layout.n_replicas // len(strategy.extended.worker_devices),
        "global_batch": layout.batch_size,
        "rows_per_replica": layout.rows_per_replica,
        "task": f"{task_type}-{task_id}",
        "chief": chief,
    }


class Replicas:
    """The replicas' model, its single-device twin and the distributed input of one run.

    Args:
        strategy: `tf.distribute.Strategy`.
        model_config: `ModelConfig` with the GLOBAL batch size B.
        item_matrix: float array `[n_items, D]` or `None`.
        item_counts: int array `[n_items]` or `None`.

    Attributes:
        layout: `ReplicaLayout`.
        model: `ReplicaRecommender` for b rows, built in the strategy's scope (what `fit` trains).
        twin: `Recommender` for B rows, outside any strategy (what is evaluated and saved).
    """

    def __init__(self, strategy, model_config, *, item_matrix=None, item_counts=None):
        self.strategy = strategy
        self.layout = ReplicaLayout(model_config.batch_size, strategy.num_replicas_in_sync)
        replica_config = model_config.replace(batch_size=self.layout.rows_per_replica)
        with strategy.scope(), per_replica_states():
            self.model = build_recommender(replica_config, item_matrix=item_matrix, item_counts=item_counts,
                                           cls=ReplicaRecommender)
        self.model.several_workers = len(strategy.extended.worker_devices) < strategy.num_replicas_in_sync
        _check_states_are_marked(self.model)
        self.twin = build_recommender(model_config, item_matrix=item_matrix, item_counts=item_counts)

    def build(self, padding_batch):
        """Create every variable: `padding_batch` is a global batch of padding (B rows)."""
        replica_batch = {k: v[self.layout.rows(0)] for k, v in padding_batch.items()}
        with self.strategy.scope():
            self.model(replica_batch)
        self.model.build_batch = replica_batch
        self.twin(padding_batch)

    def compile(self, learning_rate, jit_compile):
        with self.strategy.scope():
            from hiertcn_keras.training.optimizers import make_optimizer

            # The model's config names the optimizer (Adam, or AdamW with weight decay).
            self.model.compile(optimizer=make_optimizer(self.model.model_config.replace(learning_rate=learning_rate)),
                               jit_compile=jit_compile)

    def dataset(self, batcher, first_epoch=0):
        """The distributed training input: each replica gets its own rows of every batch.

        Each pass (each Keras epoch) draws the next seeded shuffle, from `first_epoch` on. Keras
        makes no extra pass: `ReplicaRecommender` spares it the peek at the first batch.
        """
        epochs = itertools.count(first_epoch)

        def dataset_fn(input_context):
            return replica_dataset(batcher, self.layout, input_context, epochs)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def sync_twin(self):
        """Copy the replicas' current weights into the twin."""
        copy_weights(self.model, self.twin, self.strategy)


class TwinValidation(keras.callbacks.Callback):
    """Copies the replicas' weights into the twin at the end of every epoch.

    Place it before `RankingValidation(..., model=replicas.twin)`, which then validates the
    weights just trained.

    Args:
        replicas: `Replicas`.
    """

    def __init__(self, replicas):
        super().__init__()
        self.replicas = replicas

    def on_epoch_end(self, epoch, logs=None):
        self.replicas.sync_twin()


class AgreeOnLogs(keras.callbacks.Callback):
    """Replaces every worker's `val_*` epoch logs with the chief's (multi-worker runs).

    Every worker validates the same weights, but machines may round differently; early
    stopping must decide the same everywhere, or the workers that go on wait forever for the
    ones that stopped. Place it after the validation and before `EarlyStopping`.

    Args:
        strategy: `tf.distribute.Strategy`.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self.chief = worker_task(strategy)[2]
        self.local_replicas = len(strategy.extended.worker_devices)

    def on_epoch_end(self, epoch, logs=None):
        keys = sorted(k for k in (logs or {}) if k.startswith("val_"))
        if not keys or self.local_replicas == self.strategy.num_replicas_in_sync:
            return  # one worker: nothing to agree on
        share = np.array([float(logs[k]) if self.chief else 0.0 for k in keys], dtype=np.float64)
        per_replica = self.strategy.run(lambda: tf.constant(share))
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()
        # Each of the chief's local replicas contributed one copy.
        logs.update({k: float(v) / self.local_replicas for k, v in zip(keys, total)})
