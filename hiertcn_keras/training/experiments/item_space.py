"""Item-space quality: nearest items, topic purity against the generator's topics, and the
item embedding store the pretrained-space runs read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hiertcn_keras.training.experiments.case_study import top_k


def nearest_items(vectors, queries, k=5, n_catalogue=None):
    """Cosine nearest neighbours of some items, the query itself excluded.

    Args:
        vectors: float array `[n_items, D]` (row 0 = padding, never returned).
        queries: int array `[Q]`. Item indices.
        k: int. Defaults to 5.
        n_catalogue: int or `None`. Only items `1..n_catalogue` are candidates (default: all).

    Returns:
        `(items [Q, k], cosine [Q, k])`.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    queries = np.asarray(queries)
    scores = unit[queries] @ unit.T
    scores[np.arange(len(queries)), queries] = -np.inf
    return top_k(scores, k, (n_catalogue or len(vectors) - 1))


def topic_purity(vectors, topics, k=10, n_catalogue=None):
    """Share of each item's k cosine nearest neighbours that have its true topic.

    Args:
        vectors: float array `[n_items, D]` (row 0 = padding).
        topics: int array `[n_items]`. True topic per item index (row 0 ignored).
        k: int. Defaults to 10.
        n_catalogue: int or `None`. Items `1..n_catalogue` are queried and candidates.

    Returns:
        float in [0, 1]. A random space gives about the share of the most common topics
        (1 / n_topics for balanced topics).
    """
    n = n_catalogue or len(vectors) - 1
    items = np.arange(1, n + 1)
    neighbours, _ = nearest_items(vectors, items, k, n)
    topics = np.asarray(topics)
    return float((topics[neighbours] == topics[items][:, None]).mean())


def item_topics(log_path, dataset):
    """The generator's true topic of every item index of a prepared synthetic dataset.

    Args:
        log_path: str or Path. The `hiertcn synth` log.
        dataset: `PreparedDataset` prepared from it.

    Returns:
        int array `[n_items]`; -1 at index 0.
    """
    from hiertcn_keras.data.synthetic_io import load_generator

    generator = load_generator(log_path)
    ids = dataset.items["id"].to_numpy().astype(np.int64)
    return np.concatenate([[-1], generator.item_topic[ids]])


def item_store(data_dir, store_dir, config=None, *, verbose=0):
    """Train the item model into an embedding store, or reuse the store already there.

    The store is reused when its manifest records the same `ItemModelConfig` and the same data
    fingerprint (as `hiertcn embed-items` writes them).

    Args:
        data_dir: str or Path. A prepared dataset.
        store_dir: str or Path. The store folder.
        config: `ItemModelConfig` or `None` (the defaults of `hiertcn embed-items`).
        verbose: int. Keras progress. Defaults to 0.

    Returns:
        dict: `matrix` float32 `[n_items, D]`, `report` (the training record), `reused` (bool).
    """
    import dataclasses

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors
    from hiertcn_keras.training.item_training import ItemModelConfig, embed_items

    config = config or ItemModelConfig()
    dataset = PreparedDataset(data_dir)
    manifest = Path(store_dir) / "manifest.json"
    reused = False
    if manifest.is_file():
        report = json.loads(manifest.read_text()).get("config") or {}
        wanted = json.loads(json.dumps(dataclasses.asdict(config)))
        reused = report.get("config") == wanted and report.get("data_fingerprint") == dataset.fingerprint
    if not reused:
        embed_items(data_dir, store_dir, config, verbose=verbose)
        report = json.loads(manifest.read_text())["config"]
    matrix = load_item_vectors(store_dir, dataset.n_items, dataset.items["id"].tolist())
    return {"matrix": matrix, "report": report, "reused": reused}
