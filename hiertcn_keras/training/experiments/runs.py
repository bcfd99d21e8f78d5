"""Run reuse: the embedded dataset, and neural runs trained once and reused when unchanged.

Neural runs are ordinary run directories (`hiertcn train` layout), *reused* when a run
directory with the same model configuration, training settings and data fingerprint already
exists, so two notebooks (or a notebook and `hiertcn compare`) share trained models instead of
training them twice; `train_or_load` says which happened.
"""

from __future__ import annotations

import json
from pathlib import Path

from hiertcn_keras.artifacts.run_dir import item_matrix_fingerprint


def default_dataset(directory, *, users=2000, items=1000, seed=7):
    """The embedded synthetic dataset (`hiertcn synth` + `hiertcn prepare` with defaults).

    Reuses `directory/log.csv` and `directory/prepared` when they were written with the same
    generator settings, so notebooks sharing a folder synthesize once.

    Args:
        directory: str or Path. Folder for `log.csv` (+ the generator sidecars) and `prepared/`.
        users: int. Synthetic users. Defaults to 2000.
        items: int. Synthetic items. Defaults to 1000.
        seed: int. Generator seed. Defaults to 7.

    Returns:
        `(log_path, prepared_dir)` as `Path`s.
    """
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import prepare
    from hiertcn_keras.data.synthetic import SyntheticConfig, generate
    from hiertcn_keras.data.synthetic_io import save

    directory = Path(directory)
    log_path, prepared_dir = directory / "log.csv", directory / "prepared"
    config = SyntheticConfig(n_users=users, n_items=items, seed=seed)
    meta_path = directory / "log.generator.json"
    fresh = not (log_path.is_file() and meta_path.is_file() and (prepared_dir / "stats.json").is_file())
    if not fresh:
        from dataclasses import asdict

        fresh = json.loads(meta_path.read_text())["config"] != asdict(config)
    if fresh:
        save(generate(config), log_path)
        prepare(load(log_path, "generic")).write(prepared_dir)
    return log_path, prepared_dir


def _same_run(run_dir, model_config, train_config, fingerprint, item_matrix=None):
    path = Path(run_dir) / "config.json"
    if not (path.is_file() and (Path(run_dir) / "metrics.json").is_file()):
        return False
    record = json.loads(path.read_text())
    # Settings that change what is trained; a setting newer than the recorded run (absent
    # from its record) is compared only when the record has it.
    wanted_train = {k: v for k, v in train_config.__dict__.items() if k not in ("verbose", "jit_compile")}
    core = ("epochs", "monitor", "patience", "tie_policy", "validate", "seed")
    recorded_train = {k: record["train"].get(k) for k in wanted_train if k in core or k in record["train"]}
    wanted_train = {k: wanted_train[k] for k in recorded_train}
    # JSON turns tuples into lists: compare both through JSON.
    same_model = json.loads(json.dumps(record["model"])) == json.loads(json.dumps(model_config.to_dict()))
    # A pretrained-space run is the same only on the same item vectors (runs recorded before
    # the fingerprint existed are retrained rather than trusted).
    same_items = record.get("item_matrix_sha256", "unrecorded") == item_matrix_fingerprint(item_matrix)
    if item_matrix is None and "item_matrix_sha256" not in record:
        same_items = True
    return (same_model and same_items and recorded_train == wanted_train
            and record["data"]["fingerprint"] == fingerprint)


def train_or_load(data_dir, model, run_dir, *, epochs=10, seed=0, item_matrix=None, verbose=0, jit_compile="auto",
                  **overrides):
    """Train a neural model into `run_dir`, or reuse the run already there if it is the same.

    "The same" means: the recorded model configuration, training settings (epochs, patience,
    monitor, seed, tie policy), data fingerprint and (pretrained space) item-matrix fingerprint
    all equal what this call would train.

    Args:
        data_dir: str or Path. A prepared dataset.
        model: str. One of `NEURAL`.
        run_dir: str or Path. The run directory.
        epochs: int. Maximum epochs (early stopping on validation Recall@10, patience 3).
            Defaults to 10.
        seed: int. Defaults to 0.
        item_matrix: float array `[n_items, D]` for the pretrained item space, or `None`.
        verbose: int. Keras progress while training. Defaults to 0.
        jit_compile: bool or `"auto"`. XLA (not part of "the same"). Defaults to `"auto"`.
        **overrides: `ModelConfig` fields (`item_space`, `loss`, ...).

    Returns:
        dict: `metrics` (test split), `record` (the run's config.json), `history`,
        `reused` (bool), `run_dir`.
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    dataset = PreparedDataset(data_dir)
    # Overrides may come from JSON or papermill parameters, where tuples arrive as lists.
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    config = model_config_for(dataset, model=model, seed=seed, **overrides)
    # The recorded config is the resolved one (e.g. the default loss filled in): resolve ours too.
    config = build_recommender(config, item_matrix=item_matrix, item_counts=dataset.item_counts("train")).model_config
    train_config = TrainConfig(epochs=epochs, seed=seed, verbose=verbose, jit_compile=jit_compile)
    run_dir = Path(run_dir)
    reused = _same_run(run_dir, config, train_config, dataset.fingerprint, item_matrix)
    if not reused:
        train(data_dir, config, train_config, run_dir, item_matrix=item_matrix)
    return {
        "metrics": json.loads((run_dir / "metrics.json").read_text()),
        "record": json.loads((run_dir / "config.json").read_text()),
        "history": json.loads((run_dir / "history.json").read_text()),
        "reused": reused,
        "run_dir": run_dir,
    }


def fit_baseline(name, dataset, item_vectors=None):
    """A fitted simple baseline (a name of `models.baselines.BASELINES`) with its default settings.

    MV and MaxItem use `item_vectors` `[n_items, D]`, or PPMI/SVD co-occurrence vectors of the
    training events when `None` (as `hiertcn evaluate --model mv` does).
    """
    from hiertcn_keras.models import baselines

    return baselines.fit_baseline(name, dataset, item_vectors=item_vectors)
