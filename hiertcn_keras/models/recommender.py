"""`Recommender`: a user model, its item space and its training objective, saved as one `.keras`.

The functional user model maps a batch to user embeddings u `[B, S, L, E]` (or `[B, T, E]`).
Scores are inner products with item vectors:

- `learned` item space: an output table W `[n_catalogue + 1, E]` plus bias b, either the input
  item table's first rows (tied, the default: GRU4Rec's "constrained embedding") or its own
  weights (`tied_embeddings=False`); training with full-softmax cross-entropy over the
  catalogue (never a softmax applied twice: the loss takes logits) or sampled softmax with
  log-Q correction for large catalogues (shared negatives, optionally with the batch's other
  targets as in-batch negatives);
- `pretrained` item space: the frozen input item vectors X are also the targets; losses L2,
  NCE, BPR or Hinge (docs/concepts.md#item-spaces-and-losses) with K negatives shared by the batch,
  drawn uniformly or by popularity^α from the catalogue.

Column / index 0 (padding, start token) is never a candidate. Only events whose `score` flag is
set contribute to the loss, so padding weighs exactly zero.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from hiertcn_keras.losses import (KEY_RANGE, NegativeSampler, full_softmax_loss, largest_keys, log_expected_counts,
                                  pairwise_loss, sampled_softmax_loss)
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.packed_hiertcn import packed_hiertcn

_NEG = -1e9


@keras.saving.register_keras_serializable(package="hiertcn")
class OutputItems(keras.layers.Layer):
    """The learned output item table: W `[n, E]` and bias `[n]`, or the bias alone when tied.

    Args:
        n_items: int. Rows (catalogue + 1; row 0 is never a candidate).
        dim: int. E.
        tied: bool. Hold no W: `call` takes the input item table's first n rows instead
            (GRU4Rec's "constrained embedding"). Defaults to `False`.

    Call arguments:
        u: float tensor `[..., E]`.
        kernel: float tensor `[n, E]`: the tied table (required when `tied`, else ignored).

    Returns:
        Logits `[..., n]`: u · Wᵀ + b, with column 0 at a large negative value.
    """

    def __init__(self, n_items, dim, tied=False, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.dim, self.tied = int(n_items), int(dim), bool(tied)
        self.kernel = None
        if not self.tied:
            self.kernel = self.add_weight(shape=(self.n_items, self.dim), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.n_items,), initializer="zeros", name="bias")
        self.built = True

    def call(self, u, kernel=None):
        kernel = self.kernel if kernel is None or not self.tied else kernel
        if kernel is None:
            raise ValueError("a tied OutputItems needs the input item table as `kernel`")
        logits = ops.matmul(u, ops.transpose(kernel)) + self.bias
        column = ops.arange(self.n_items) > 0
        return ops.where(column, logits, ops.full_like(logits, _NEG))

    def get_config(self):
        config = super().get_config()
        config.update(n_items=self.n_items, dim=self.dim, tied=self.tied)
        return config


@keras.saving.register_keras_serializable(package="hiertcn")
class Recommender(keras.Model):
    """Trains and scores a user model in its item space.

    Args:
        user_model: a `keras.Model` mapping a batch dict to u.
        config: `ModelConfig` or its dict.
        item_counts: int array `[n_items]` of training counts (popularity negatives), or `None`.

    Call arguments:
        batch: dict of tensors (see `hiertcn_keras.models.user_models`).

    Returns:
        u: float tensor `[B, S, L, E]` (hierarchical), `[B, T, E]` (flat, and a packed
        hierarchical batch: HierTCN with `packed_sessions` trains on `packed_model`, the same
        layers over the sessions laid end to end).
    """

    def __init__(self, user_model, config, item_counts=None, **kwargs):
        super().__init__(**kwargs)
        self.user_model = user_model
        self.input_keys = tuple(user_model.input.keys())
        self.model_config = config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config)
        cfg = self.model_config
        self.item_counts = None if item_counts is None else np.asarray(item_counts, dtype=np.int64)
        n_candidates = cfg.n_catalogue + 1
        self.output_items = (
            OutputItems(n_candidates, cfg.output_dim, tied=cfg.tied_embeddings, name="output_items")
            if cfg.item_space == "learned" else None
        )
        # The packed training graph (built on the first packed batch) shares the user model's
        # layers: kept out of Keras' tracking (object.__setattr__), so that the weights and the
        # `.keras` file are the user model's.
        object.__setattr__(self, "_packed_graph", None)
        self.sampler = None
        if cfg.loss not in ("softmax", "l2"):
            counts = None
            if cfg.negative_distribution == "popularity":
                if self.item_counts is None:
                    raise ValueError("popularity negatives need item_counts")
                counts = self.item_counts[:n_candidates]
            self.sampler = NegativeSampler(
                cfg.negative_distribution, alpha=cfg.alpha, counts=counts, n_items=n_candidates,
                seed=cfg.seed, name="negative_sampler",
            )
        # The in-batch negatives' proposal: the unigram of the training targets (never sampled from).
        self.target_prior = None
        if getattr(cfg, "in_batch_negatives", False):
            if self.item_counts is None:
                raise ValueError("in-batch negatives need item_counts")
            self.target_prior = NegativeSampler(
                "popularity", alpha=1.0, counts=self.item_counts[:n_candidates], name="target_prior"
            )

    def call(self, batch, training=False):
        model = self.packed_model if "slot" in batch else self.user_model
        return model({key: batch[key] for key in model.input.keys()}, training=training)

    @property
    def packed_model(self):
        """The graph that reads packed batches (`hiertcn_keras.models.packed_hiertcn`), the user
        model's own layers; built on first use, so a model never given a packed batch keeps a
        single graph (its layers' `.output` stays defined).

        Raises:
            ValueError: the config does not pack sessions (`packed_sessions`, HierTCN only).
        """
        if not self.model_config.packed_sessions:
            raise ValueError(f"a packed batch needs a HierTCN with packed_sessions, got {_packing_setting(self)}")
        if self._packed_graph is None:
            object.__setattr__(self, "_packed_graph", packed_hiertcn(self.user_model, self.model_config))
        return self._packed_graph

    def item_table(self):
        """The scoring table as tensors: `(W [n_catalogue + 1, E], bias [n_catalogue + 1] or None)`.

        Tied (`tied_embeddings`) and pretrained spaces score with the input item table's first
        n_catalogue + 1 rows (row 0 zero); a tied space adds the output bias.
        """
        if self.output_items is not None and not self.output_items.tied:
            return self.output_items.kernel, self.output_items.bias
        table = self.user_model.get_layer("item_embedding").embeddings[: self.model_config.n_catalogue + 1]
        return table, None if self.output_items is None else self.output_items.bias

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        cfg = self.model_config
        dim = ops.shape(y_pred)[-1]
        u = ops.reshape(y_pred, (-1, dim))
        targets = ops.reshape(ops.cast(x["items"], "int32"), (-1,))
        weight = ops.reshape(ops.cast(x["score"], u.dtype), (-1,))
        # Targets outside the catalogue can only be flagged in evaluation views; clip to stay safe.
        targets = ops.where(weight > 0, targets, ops.zeros_like(targets))
        if cfg.loss == "softmax":
            loss = full_softmax_loss(self.output_items(u, self.item_table()[0]), targets, weight)
        elif cfg.loss == "sampled_softmax":
            kernel, bias = self.item_table()
            sampled, sampled_log_q, target_log_q = self.sampler(targets, num_samples=cfg.n_negatives)
            valid = None
            if self.target_prior is not None:
                sampled, sampled_log_q, target_log_q, valid = self._with_in_batch(sampled, targets, weight)
            # Padded events have target 0, whose log Q is −inf: their loss is +inf − inf = NaN,
            # which the masked mean drops in the forward pass but not in the gradient (0 · NaN).
            target_log_q = ops.where(weight > 0, target_log_q, ops.zeros_like(target_log_q))
            loss = sampled_softmax_loss(
                u, targets, kernel, bias, sampled,
                sampled_log_q, target_log_q, weight, sampled_valid=valid,
            )
        else:
            table, _ = self.item_table()
            y_vec = ops.take(table, targets, axis=0)
            negatives = None
            if self.sampler is not None:
                negatives = ops.take(table, self.sampler.sample(cfg.n_negatives), axis=0)
            loss = pairwise_loss(cfg.loss, u, y_vec, negatives, weight)
        if self.losses:
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    def _with_in_batch(self, sampled, targets, weight):
        """The shared negatives plus the batch's targets as candidates, log expected-count corrected.

        At most `n_negatives` of the batch's scored targets join (a random subset when the batch
        has more), so the cost stays that of 2·M candidates whatever the batch's padding; a
        batch of N < M positions (its size known when traced) gets N in-batch slots.

        Returns:
            `(candidates [M + K], candidate_log_q [M + K], target_log_q [N], valid [M + K])`,
            K = min(M, N) in-batch slots (M when N is unknown): slots beyond the batch's scored
            positions are not candidates (`valid` False).
        """
        scored = weight > 0
        n_shared = self.model_config.n_negatives
        # min(M, N) slots when the batch's size N is known: never more in-batch slots than positions.
        n_slots = n_shared if weight.shape[0] is None else min(n_shared, int(weight.shape[0]))
        # The positions of the largest keys: a uniformly random subset of the scored positions
        # (all of them when there are fewer), found without a sort (`largest_keys`: with a sort
        # in the step, XLA compiled the dropout masks' random numbers several times slower on CPU).
        picked, in_batch_valid = largest_keys(self._in_batch_keys(scored), n_slots)
        in_batch = ops.where(in_batch_valid, ops.take(targets, picked), ops.zeros_like(picked))
        n_batch = ops.sum(ops.cast(in_batch_valid, "float32"))

        def log_count(ids):
            return log_expected_counts(self.sampler.log_q(ids), n_shared, self.target_prior.log_q(ids), n_batch)

        candidates = ops.concatenate([sampled, in_batch])
        valid = ops.concatenate([ops.ones_like(sampled, dtype="bool"), in_batch_valid])
        return candidates, log_count(candidates), log_count(targets), valid

    def _in_batch_keys(self, scored):
        """A random key in `[0, KEY_RANGE)` per scored position, −1 for the others: int32 `[N]`."""
        keys = keras.random.randint(ops.shape(scored), 0, KEY_RANGE, dtype="int32", seed=self.sampler.seed_generator)
        return ops.where(scored, keys, -ops.ones_like(keys))

    def reset_states(self):
        """Zero every carried state (e.g. before an evaluation pass)."""
        for layer in self.user_model.layers:
            inner = getattr(layer, "layer", layer)
            for candidate in (layer, inner):
                if hasattr(candidate, "reset_state") and getattr(candidate, "built", False):
                    candidate.reset_state()

    def get_config(self):
        return {
            "user_model": keras.saving.serialize_keras_object(self.user_model),
            "config": self.model_config.to_dict(),
            "item_counts": None if self.item_counts is None else self.item_counts.tolist(),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        user_model = keras.saving.deserialize_keras_object(config.pop("user_model"))
        return cls(user_model, **config)


def _packing_setting(recommender):
    """What a packed batch's error names: the model and its `packed_sessions` setting."""
    cfg = recommender.model_config
    return f"model {cfg.model!r} with packed_sessions={cfg.packed_sessions}"


def build_recommender(config, item_matrix=None, item_counts=None, *, cls=None):
    """Build the user model named by `config.model` and wrap it in a `Recommender`.

    `cls` is a `Recommender` subclass to build instead (the replicas of a distributed run).
    """
    from hiertcn_keras.models.user_models import build_user_model

    if config.item_space == "pretrained" and item_matrix is not None and config.output_dim != item_matrix.shape[1]:
        config = config.replace(output_dim=int(item_matrix.shape[1]))
    user_model = build_user_model(config, item_matrix)
    return (cls or Recommender)(user_model, config, item_counts=item_counts, name=f"{config.model}_recommender")
