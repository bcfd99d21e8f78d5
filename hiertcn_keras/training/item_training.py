"""`embed_items`: build the item graph, train the item model and write the embedding store.

`embed_items_shard` embeds one slice of the catalogue with a saved model, so that many
workers fill one store.

Steps: co-interaction graph of the training events → PinSage importance neighbourhoods (random
walks with restart, top-T visits) → `ItemModel` trained on consecutive pairs with shared
negatives → every item embedded in batches → an embedding store (`serving.embedding_store`)
that HierTCN's pretrained item space and serving open by memory map.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from hiertcn_keras.artifacts.atomic import atomic_write
from hiertcn_keras.artifacts.hashing import sha256_file
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.graph import cointeraction_graph, graph_stats, importance_neighbourhoods
from hiertcn_keras.models.item_model import (
    HardNegativeCurriculum,
    ItemGraphEncoder,
    ItemModel,
    embed_all,
    embed_range,
    training_pairs,
)
from hiertcn_keras.artifacts.embedding_store import write_store
from hiertcn_keras.artifacts.store_shards import shard_rows, write_shard
from hiertcn_keras.training.item_config import ItemModelConfig
from hiertcn_keras.training.model_file import load_model_file


def train_item_model(data_dir, config=None, *, content=None, verbose=1, view=None):
    """Build the item graph of a prepared dataset's training events and train the item model.

    Args:
        data_dir: str or Path. Prepared dataset.
        config: `ItemModelConfig` or `None`.
        content: float array `[n_items, C]` of content features, or `None`.
        verbose: int. Keras progress. Defaults to 1.
        view: `EventView` to train on, or `None` (the training split). Defaults to `None`.

    Returns:
        `(ItemModel, report dict)`.
    """
    import tensorflow as tf

    config = config or ItemModelConfig()
    keras.utils.set_random_seed(config.seed)
    dataset = PreparedDataset(data_dir)
    own_view = view is not None
    view = dataset.view("train") if view is None else view
    started = time.perf_counter()
    graph = cointeraction_graph(view, dataset.n_items, window=config.window)
    neighbours, weights = importance_neighbourhoods(graph, n_walks=config.n_walks, walk_length=config.walk_length,
                                                    top_t=config.top_t, seed=config.seed)
    graph_seconds = time.perf_counter() - started
    encoder = ItemGraphEncoder(dataset.n_items, neighbours, weights, dim=config.dim, content=content,
                               name="item_encoder")
    counts = None
    if config.negative_distribution == "popularity":
        counts = (np.bincount(view.item, minlength=dataset.n_items).astype(np.int64) if own_view
                  else dataset.item_counts("train"))
    model = ItemModel(encoder, loss_name=config.loss, n_negatives=config.n_negatives, margin=config.margin,
                      item_counts=counts, seed=config.seed, temperature=config.temperature,
                      max_hard_negatives=config.hard_negatives)
    query, positive = training_pairs(view)
    if len(query) == 0:
        raise ValueError(f"{data_dir}: no consecutive item pairs in the training sessions to train on")
    model({"query": query[:2], "positive": positive[:2]})
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    pairs = tf.data.Dataset.from_tensor_slices({"query": query, "positive": positive})
    pairs = pairs.shuffle(len(query), seed=config.seed, reshuffle_each_iteration=True)
    pairs = pairs.batch(config.batch_size).prefetch(2)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
        history = model.fit(pairs, epochs=config.epochs, verbose=verbose, callbacks=[HardNegativeCurriculum()])
    report = {
        "config": dataclasses.asdict(config),
        "graph": graph_stats(graph),
        "graph_seconds": round(graph_seconds, 3),
        "train_seconds": round(time.perf_counter() - started, 3),
        "pairs": int(len(query)),
        "loss": [float(v) for v in history.history["loss"]],
        "data_fingerprint": dataset.fingerprint,
    }
    return model, report


def save_item_model(model, path):
    """Save an `ItemModel` as a `.keras` file atomically; returns its sha256 (the model fingerprint)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"the item model file must end in .keras, got {path}")
    atomic_write(path, model.save)
    return sha256_file(path)


def _store_ids(dataset):
    return [""] + dataset.items["id"].astype(str).tolist()


def embed_items(data_dir, out_store, config=None, *, content=None, verbose=1, dtype="float32", model_out=None,
                overwrite=False):
    """Train the item model on a prepared dataset and write the embedding store.

    Args:
        data_dir: str or Path. Prepared dataset.
        out_store: str or Path. Store folder to write (atomically).
        config: `ItemModelConfig` or `None`.
        content: float array `[n_items, C]` of content features, or `None`.
        verbose: int. Keras progress. Defaults to 1.
        dtype: str. Store dtype. Defaults to `float32`.
        model_out: str, Path or `None`. Also save the trained model here (`.keras`), for
            `embed_items_shard`. Defaults to `None`.
        overwrite: bool. Replace an existing `out_store` even if it is not a store. Defaults to
            `False`.

    Returns:
        `(matrix [n_items, D], report dict)`.
    """
    model, report = train_item_model(data_dir, config, content=content, verbose=verbose)
    if model_out is not None:
        report["model_fingerprint"] = save_item_model(model, model_out)
    dataset = PreparedDataset(data_dir)
    matrix = embed_all(model.encoder, dataset.n_items)
    write_store(out_store, matrix, _store_ids(dataset), dtype=dtype, config=report, force=overwrite)
    return matrix, report


def embed_items_shard(data_dir, model_path, out_store, shard, n_shards, *, dtype="float32", batch_size=4096):
    """Embed one shard of the catalogue with a trained item model into a shared store.

    Many workers, each with its own `shard`, fill one store (`serving.store_shards`); the store
    opens once every shard is written.

    Args:
        data_dir: str or Path. The prepared dataset the model was trained on.
        model_path: str or Path. An item model saved by `embed_items(..., model_out=...)`.
        out_store: str or Path. The shared store folder.
        shard: int. This worker's shard, 0 ≤ shard < n_shards.
        n_shards: int.
        dtype: str. Store dtype. Defaults to `float32`.
        batch_size: int. Items per forward pass. Defaults to 4096.

    Returns:
        `(start, stop)`: the rows written.
    """
    dataset = PreparedDataset(data_dir)
    model = load_model_file(model_path)
    if model.encoder.n_items != dataset.n_items:
        raise ValueError(f"{model_path} embeds {model.encoder.n_items} items but {data_dir} has {dataset.n_items}; "
                         "was it trained on this dataset?")
    start, stop = shard_rows(dataset.n_items, shard, n_shards)
    rows = embed_range(model.encoder, start, stop, batch_size)
    write_shard(out_store, rows, _store_ids(dataset), n_items=dataset.n_items, index=shard, count=n_shards,
                dtype=dtype, model_fingerprint=sha256_file(model_path),
                config={"model_file": Path(model_path).name, "data_fingerprint": dataset.fingerprint})
    return start, stop
