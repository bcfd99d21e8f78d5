"""What the serving benchmarks share: a synthetic servable run of any catalogue size, and events.

Training a model on a 1M-item catalogue is not what these benchmarks measure, so
`synthetic_run` writes a run directory the way `hiertcn train` would (model.keras,
config.json) around an UNTRAINED HierTCN with the official sizes (embedding 128, high level
2×128, TCN [128, 128], L = 20) in the pretrained item space, a matching minimal prepared
dataset (config.json with the fingerprint and the prepare settings, items.parquet) and an
item embedding store. Latency does not depend on the weights' values. Item vectors are a
mixture of 1,000 Gaussian clusters, L2-normalised (real item embeddings are clustered; uniform
random vectors would be the worst case for IVF/HNSW recall); the user embeddings the
benchmarks query with are the model's own outputs for the synthetic events.

`synthetic_events`: users act in sessions of a few clicks 5–120 s apart, sessions 1–3 h apart,
items drawn by a Zipf-like popularity, timestamps increasing per user; users interleaved.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def clustered_vectors(n_items, dim, seed=0, n_clusters=1000):
    """`[n_items + 1, dim]` float32, row 0 zeros, rows L2-normalised around cluster centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(min(n_clusters, n_items), dim)).astype(np.float32)
    out = np.zeros((n_items + 1, dim), np.float32)
    chunk = 100_000
    for start in range(1, n_items + 1, chunk):
        stop = min(n_items + 1, start + chunk)
        rows = centres[rng.integers(0, len(centres), stop - start)] + 0.5 * rng.normal(size=(stop - start, dim))
        out[start:stop] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def synthetic_run(directory, n_items, *, dim=128, seed=0):
    """Write `directory/{prepared, items, run}` and return `(run_dir, items_dir)`."""
    import keras

    import hiertcn_keras.models  # noqa: F401  (registers the custom objects)
    from hiertcn_keras.artifacts import atomic
    from hiertcn_keras.artifacts.embedding_store import write_store
    from hiertcn_keras.data import vocabulary
    from hiertcn_keras.data.prepare import PrepareConfig
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.models.recommender import build_recommender

    directory = Path(directory)
    ids = np.array([f"item{k}" for k in range(n_items)], dtype=object)
    fingerprint = f"synthetic-{n_items}-{seed}"
    prepared = directory / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    vocabulary.write_vocabulary(prepared / "items.parquet", ids.astype(str))
    prepare = {k: (list(v) if isinstance(v, tuple) else v) for k, v in PrepareConfig().__dict__.items()}
    atomic.write_json(prepared / "config.json", {"prepare": prepare, "n_catalogue": n_items,
                                                  "fingerprint": fingerprint, "format_version": 1})
    matrix = clustered_vectors(n_items, dim, seed)
    items_dir = write_store(directory / "items", matrix, [None] + ids.tolist())

    keras.utils.set_random_seed(seed)
    config = ModelConfig(model="hiertcn", n_items=n_items + 1, n_catalogue=n_items, item_space="pretrained",
                         batch_size=1, sessions_per_batch=1)
    model = build_recommender(config, item_matrix=matrix)
    L = config.max_session_len
    zeros = np.zeros((1, 1, L), np.int32)
    model({"items": zeros, "inputs": zeros, "mask": zeros.astype(bool), "session_mask": np.zeros((1, 1), bool),
           "user_start": np.zeros((1, 1), bool), "gap": np.zeros((1, 1), np.float32)})
    run_dir = directory / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    atomic.write_json(run_dir / "config.json", {
        "model": model.model_config.to_dict(),
        "data": {"path": str(prepared), "fingerprint": fingerprint, "protocol": "temporal"},
        "note": "synthetic untrained run written by benchmarks/_serving_common.py",
    })
    return run_dir, items_dir


def synthetic_events(n_events, n_users, n_items, *, seed=0, start=1.7e9):
    """`[(user, item, timestamp)]` in global time order (see the module docstring)."""
    rng = np.random.default_rng(seed)
    clock = start + rng.uniform(0, 3600, n_users)
    left_in_session = np.zeros(n_users, np.int64)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    items = rng.choice(n_items, size=n_events, p=popularity)
    events = []
    for k in range(n_events):
        user = int(np.argmin(clock))  # the user whose next click is earliest acts next
        events.append((f"user{user}", f"item{items[k]}", float(clock[user])))
        if left_in_session[user] == 0:
            left_in_session[user] = rng.integers(1, 12)
        left_in_session[user] -= 1
        clock[user] += rng.uniform(3600, 3 * 3600) if left_in_session[user] == 0 else rng.uniform(5, 120)
    return events


def percentiles_ms(seconds):
    arr = np.asarray(seconds) * 1000.0
    if not len(arr):
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None}
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p90_ms": round(float(np.percentile(arr, 90)), 3),
            "p99_ms": round(float(np.percentile(arr, 99)), 3)}


def write_json(path, record):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(record, indent=2) + "\n")
