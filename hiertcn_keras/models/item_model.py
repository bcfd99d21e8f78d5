"""The item model: a PinSage/GraphSAGE-style encoder of items, trained on co-interacted pairs.

Described in docs/concepts.md#item-embeddings. Each item's input features are a learned id
embedding, optionally concatenated with a frozen content vector (e.g. the article vectors the
Globo.com data ships). Two `PinSageConv` layers run over the item's sampled 2-hop importance
neighbourhood (kept in the model as non-trainable tables, so the `.keras` file is
self-contained), then `G2 · ReLU(G1 h + g)` and an L2 normalisation give the item embedding z.

Training pairs (q, i) are items engaged one after the other in a training session; the
negatives are K items shared by the whole mini-batch (uniform or popularity^α), plus, with
PinSage's curriculum, hard negatives from the query's two-hop neighbourhood. Losses
(`models.item_objective`): NCE (the talk's slide), max-margin `max(0, z_q·z_n − z_q·z_i + Δ)`
(the PinSage paper) or a sampled softmax.

Shape legend: N items in a batch, T neighbours per item, F features, D embedding size.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from hiertcn_keras.layers import ItemEmbedding
from hiertcn_keras.layers.sage_conv import PinSageConv
from hiertcn_keras.losses import NegativeSampler
from hiertcn_keras.models.item_objective import ITEM_LOSSES, item_pair_loss, two_hop_negatives


@keras.saving.register_keras_serializable(package="hiertcn")
class ItemGraphEncoder(keras.layers.Layer):
    """Item ids → L2-normalised embeddings through two importance-pooled graph convolutions.

    Args:
        n_items: int. Vocabulary size including index 0.
        neighbours: int array `[n_items, T]` (0 = padding) or `None` (zeros; set later).
        neighbour_weights: float array `[n_items, T]` (rows sum to 1, or 0 for isolated items).
        dim: int. D. Defaults to 64.
        id_dim: int. Learned id-embedding size. Defaults to `dim`.
        content: float array `[n_items, C]` of frozen content features, or `None`.
        content_dim: int. C (needed to rebuild from a config). Defaults to 0.

    Call arguments:
        ids: int tensor `[N]`.

    Returns:
        Float tensor `[N, D]`; exact zeros for id 0.
    """

    def __init__(self, n_items, neighbours=None, neighbour_weights=None, dim=64, id_dim=None, content=None,
                 content_dim=0, n_neighbours=None, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.dim = int(n_items), int(dim)
        self.id_dim = int(id_dim or dim)
        if neighbours is not None:
            neighbours = np.asarray(neighbours, dtype=np.int32)
            if neighbours.shape[0] != self.n_items or neighbour_weights is None \
                    or np.shape(neighbour_weights) != neighbours.shape:
                raise ValueError(f"neighbours {neighbours.shape} and weights {np.shape(neighbour_weights)} must both "
                                 f"be [n_items={self.n_items}, T]")
        self.n_neighbours = int(n_neighbours or (neighbours.shape[1] if neighbours is not None else 10))
        self._init_weights = None if neighbour_weights is None else np.asarray(neighbour_weights, np.float32)
        self.content_dim = int(content.shape[1]) if content is not None else int(content_dim)
        self.ids = ItemEmbedding(self.n_items, self.id_dim, name="id_embedding")
        self.content = None
        if self.content_dim:
            init = content if content is not None else "zeros"
            self.content = ItemEmbedding(self.n_items, self.content_dim, trainable=False,
                                         embeddings_initializer=init, name="content")
        # The tables are data, kept as non-trainable weights so the `.keras` file holds them.
        # Created (and filled) here: an assign inside build() is lost when Keras builds the
        # layer during its first call.
        t = self.n_neighbours
        self.neighbours = self.add_weight(shape=(self.n_items, t), dtype="int32", trainable=False,
                                          initializer="zeros", name="neighbours")
        self.neighbour_weights = self.add_weight(shape=(self.n_items, t), trainable=False,
                                                 initializer="zeros", name="neighbour_weights")
        if neighbours is not None:
            self.neighbours.assign(neighbours)
            self.neighbour_weights.assign(self._init_weights)
        self.conv1 = PinSageConv(self.dim, name="conv1")
        self.conv2 = PinSageConv(self.dim, name="conv2")
        self.g1 = keras.layers.Dense(self.dim, activation="relu", name="g1")
        self.g2 = keras.layers.Dense(self.dim, name="g2")

    def build(self, ids_shape=None):
        t = self.n_neighbours
        features = self.id_dim + self.content_dim
        self.ids.build((None,))
        if self.content is not None:
            self.content.build((None,))
        self.conv1.build((None, features), (None, t, features), (None, t))
        self.conv2.build((None, self.dim), (None, t, self.dim), (None, t))
        self.g1.build((None, self.dim))
        self.g2.build((None, self.dim))

    def _features(self, ids):
        h = self.ids(ids)
        if self.content is not None:
            h = ops.concatenate([h, self.content(ids)], axis=-1)
        return h

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        t = self.n_neighbours
        nb1 = ops.take(self.neighbours, ids, axis=0)  # [N, T]
        w1 = ops.take(self.neighbour_weights, ids, axis=0)
        flat1 = ops.reshape(nb1, (-1,))
        nb2 = ops.take(self.neighbours, flat1, axis=0)  # [N·T, T]
        w2 = ops.take(self.neighbour_weights, flat1, axis=0)
        h_self, h_nb1 = self._features(ids), self._features(flat1)
        h_nb2 = self._features(nb2)  # [N·T, T, F]
        z1_self = self.conv1(h_self, ops.reshape(h_nb1, (-1, t, h_nb1.shape[-1])), w1)
        z1_nb = self.conv1(h_nb1, h_nb2, w2)  # [N·T, D]
        z2 = self.conv2(z1_self, ops.reshape(z1_nb, (-1, t, self.dim)), w1)
        z = self.g2(self.g1(z2))
        z = z / ops.maximum(ops.norm(z, axis=-1, keepdims=True), 1e-12)
        return ops.where(ops.expand_dims(ids > 0, -1), z, ops.zeros_like(z))

    def compute_output_shape(self, ids_shape):
        return (*ids_shape, self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(n_items=self.n_items, dim=self.dim, id_dim=self.id_dim, content_dim=self.content_dim,
                      n_neighbours=self.n_neighbours)
        return config


@keras.saving.register_keras_serializable(package="hiertcn")
class ItemModel(keras.Model):
    """Trains an `ItemGraphEncoder` on co-interacted pairs `{"query": [N], "positive": [N]}`.

    Every pair is scored against K negatives shared by the batch (a shared negative that is
    the pair's positive does not count) and, once `hard_count` is above 0, against that many
    hard negatives of its own from the query's two-hop neighbourhood (PinSage's curriculum:
    `HardNegativeCurriculum` raises `hard_count` by one per epoch). Objectives:
    `models.item_objective`.

    Args:
        encoder: `ItemGraphEncoder`.
        loss_name: str. `softmax`, `max_margin` or `nce`. Defaults to `softmax`.
        n_negatives: int. K shared negatives per batch. Defaults to 500 (PinSage).
        margin: float. Δ of the max-margin loss. Defaults to 0.1.
        item_counts: int array `[n_items]` for popularity negatives, or `None` (uniform).
        alpha: float. Popularity exponent. Defaults to 0.75.
        seed: int. Defaults to 0.
        temperature: float. τ of the `nce` and `softmax` losses. Defaults to 0.1.
        max_hard_negatives: int. H, the most hard negatives per pair. Defaults to 0 (none).
    """

    def __init__(self, encoder, loss_name="softmax", n_negatives=500, margin=0.1, item_counts=None,
                 alpha=0.75, seed=0, temperature=0.1, max_hard_negatives=0, **kwargs):
        super().__init__(**kwargs)
        if loss_name not in ITEM_LOSSES:
            raise ValueError(f"loss_name must be one of {ITEM_LOSSES}, got {loss_name!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if int(max_hard_negatives) < 0:
            raise ValueError(f"max_hard_negatives must be ≥ 0, got {max_hard_negatives}")
        self.encoder = encoder
        self.loss_name, self.n_negatives, self.margin = loss_name, int(n_negatives), float(margin)
        self.alpha, self.seed, self.temperature = float(alpha), int(seed), float(temperature)
        self.max_hard_negatives = int(max_hard_negatives)
        self.item_counts = None if item_counts is None else np.asarray(item_counts, np.int64)
        self.sampler = NegativeSampler(
            "popularity" if self.item_counts is not None else "uniform", alpha=self.alpha,
            counts=self.item_counts, n_items=encoder.n_items, seed=self.seed, name="negatives",
        )
        self.hard_seed = keras.random.SeedGenerator(self.seed + 1)
        #: How many of the `max_hard_negatives` count now (the curriculum sets it per epoch).
        self.hard_count = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                          name="hard_count")

    def call(self, batch, training=False):
        return self.encoder(batch["query"]), self.encoder(batch["positive"])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        z_q, z_i = y_pred
        query, positive = ops.cast(x["query"], "int32"), ops.cast(x["positive"], "int32")
        shared = self.sampler.sample(self.n_negatives)  # [K]
        scores = ops.matmul(z_q, ops.transpose(self.encoder(shared)))  # [N, K]
        valid = ops.expand_dims(shared, 0) != ops.expand_dims(positive, -1)
        if self.max_hard_negatives:
            h = self.max_hard_negatives
            hard = two_hop_negatives(self.encoder.neighbours, query, h, self.hard_seed)  # [N, H]
            z_h = ops.reshape(self.encoder(ops.reshape(hard, (-1,))), (-1, h, self.encoder.dim))
            scores = ops.concatenate([scores, ops.einsum("nd,nhd->nh", z_q, z_h)], axis=-1)
            slot = ops.expand_dims(ops.arange(h, dtype="int32"), 0)
            hard_valid = ((hard > 0) & (hard != ops.expand_dims(positive, -1)) & (hard != ops.expand_dims(query, -1))
                          & (slot < self.hard_count))
            valid = ops.concatenate([valid, hard_valid], axis=-1)
        positive_scores = ops.sum(z_q * z_i, axis=-1)
        return item_pair_loss(self.loss_name, positive_scores, scores, valid, margin=self.margin,
                              temperature=self.temperature)

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "loss_name": self.loss_name, "n_negatives": self.n_negatives, "margin": self.margin,
            "item_counts": None if self.item_counts is None else self.item_counts.tolist(),
            "alpha": self.alpha, "seed": self.seed, "temperature": self.temperature,
            "max_hard_negatives": self.max_hard_negatives, "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        return cls(encoder, **config)


class HardNegativeCurriculum(keras.callbacks.Callback):
    """PinSage's curriculum: epoch e (from 0) trains with min(e, H) hard negatives per pair."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.hard_count.assign(min(int(epoch), self.model.max_hard_negatives))


def training_pairs(view):
    """Pairs (q, i) of items engaged one after the other within a session of a view.

    Returns:
        `(query, positive)`: int32 arrays `[P]`, self-pairs (a repeated item) excluded.
    """
    same_session = (view.session[1:] == view.session[:-1]) & (view.user[1:] == view.user[:-1])
    query, positive = view.item[:-1][same_session], view.item[1:][same_session]
    keep = query != positive
    return query[keep].astype(np.int32), positive[keep].astype(np.int32)


def embed_range(encoder, start, stop, batch_size=4096):
    """Embed item indices `start..stop−1` in batches: float32 `[stop − start, D]` (index 0 → zeros)."""
    out = np.zeros((stop - start, encoder.dim), dtype=np.float32)
    for first in range(max(start, 1), stop, batch_size):
        ids = np.arange(first, min(first + batch_size, stop), dtype=np.int32)
        out[ids - start] = np.asarray(encoder(ids))
    return out


def embed_all(encoder, n_items, batch_size=4096):
    """Embed every item index 0..n_items−1 in batches: float32 `[n_items, D]` (row 0 zeros)."""
    return embed_range(encoder, 0, n_items, batch_size)
