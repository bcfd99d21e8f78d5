"""`embed_items`: build the item graph, train the item model and write the embedding store.

Steps: co-interaction graph of the training events → PinSage importance neighbourhoods (random
walks with restart, top-T visits) → `ItemModel` trained on consecutive pairs with shared
negatives → every item embedded in batches → an embedding store (`serving.embedding_store`)
that HierTCN's pretrained item space and serving open by memory map.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import keras
import numpy as np

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.graph import cointeraction_graph, graph_stats, importance_neighbourhoods
from hiertcn_keras.models.item_model import ItemGraphEncoder, ItemModel, embed_all, training_pairs
from hiertcn_keras.serving.embedding_store import write_store


@dataclasses.dataclass(frozen=True)
class ItemModelConfig:
    """Settings of `embed_items`.

    Args:
        dim: int. Embedding size D. Defaults to 64.
        epochs: int. Defaults to 5.
        batch_size: int. Pairs per batch. Defaults to 512.
        n_negatives: int. Shared negatives per batch. Defaults to 500 (PinSage).
        loss: str. `max_margin` (PinSage) or `nce` (the talk). Defaults to `max_margin`.
        margin: float. Defaults to 0.1.
        negative_distribution: str. `uniform` or `popularity`. Defaults to `uniform`.
        top_t: int. Neighbours per item. Defaults to 10.
        n_walks: int. Random walks per item. Defaults to 50.
        walk_length: int. Defaults to 3.
        window: int. Co-interaction window (events of one user). Defaults to 5.
        learning_rate: float. Defaults to 1e-3.
        seed: int. Defaults to 0.
    """

    dim: int = 64
    epochs: int = 5
    batch_size: int = 512
    n_negatives: int = 500
    loss: str = "max_margin"
    margin: float = 0.1
    negative_distribution: str = "uniform"
    top_t: int = 10
    n_walks: int = 50
    walk_length: int = 3
    window: int = 5
    learning_rate: float = 1e-3
    seed: int = 0


def embed_items(data_dir, out_store, config=None, *, content=None, verbose=1, dtype="float32"):
    """Train the item model on a prepared dataset and write the embedding store.

    Args:
        data_dir: str or Path. Prepared dataset.
        out_store: str or Path. Store folder to write (atomically).
        config: `ItemModelConfig` or `None`.
        content: float array `[n_items, C]` of content features, or `None`.
        verbose: int. Keras progress. Defaults to 1.
        dtype: str. Store dtype. Defaults to `float32`.

    Returns:
        `(matrix [n_items, D], report dict)`.
    """
    import tensorflow as tf

    config = config or ItemModelConfig()
    keras.utils.set_random_seed(config.seed)
    dataset = PreparedDataset(data_dir)
    view = dataset.view("train")
    started = time.perf_counter()
    graph = cointeraction_graph(view, dataset.n_items, window=config.window)
    neighbours, weights = importance_neighbourhoods(graph, n_walks=config.n_walks, walk_length=config.walk_length,
                                                    top_t=config.top_t, seed=config.seed)
    graph_seconds = time.perf_counter() - started
    encoder = ItemGraphEncoder(dataset.n_items, neighbours, weights, dim=config.dim, content=content,
                               name="item_encoder")
    counts = dataset.item_counts("train") if config.negative_distribution == "popularity" else None
    model = ItemModel(encoder, loss_name=config.loss, n_negatives=config.n_negatives, margin=config.margin,
                      item_counts=counts, seed=config.seed)
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
        history = model.fit(pairs, epochs=config.epochs, verbose=verbose)
    train_seconds = time.perf_counter() - started
    matrix = embed_all(encoder, dataset.n_items)
    ids = [""] + dataset.items["id"].astype(str).tolist()
    report = {
        "config": dataclasses.asdict(config),
        "graph": graph_stats(graph),
        "graph_seconds": round(graph_seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "pairs": int(len(query)),
        "loss": [float(v) for v in history.history["loss"]],
        "data_fingerprint": dataset.fingerprint,
    }
    write_store(out_store, matrix, ids, dtype=dtype, config=report)
    return matrix, report
