"""A model trained by a hand-written `model.fit`, saved with what it was trained on, and found again.

The notebooks train their models inline (`training.keras_fit`) and share them: notebook 4's
case study reads the HierTCN and TCN notebook 1 trained. `save_fitted` writes a folder with
`model.keras` and `fit.json` (the resolved model configuration, the training settings, the data
and item-matrix fingerprints, the per-epoch history and the test metrics); `load_fitted` loads
it back only when every one of those settings equals what the caller would train.
"""

from __future__ import annotations

import json
from pathlib import Path

from hiertcn_keras.artifacts import atomic
from hiertcn_keras.artifacts.run_dir import item_matrix_fingerprint

RECORD = "fit.json"
MODEL = "model.keras"


def fit_settings(model_config, dataset, *, epochs, seed=0, item_matrix=None, **train):
    """What decides a fitted model: compare two of these to know whether a saved model is reusable.

    Args:
        model_config: `ModelConfig` as resolved by `build_recommender` (`model.model_config`).
        dataset: `PreparedDataset`.
        epochs: int. Maximum epochs.
        seed: int. Defaults to 0.
        item_matrix: float array `[n_items, D]` of a pretrained item space, or `None`.
        **train: other training settings that change the result (`patience`, ...).

    Returns:
        dict, JSON-ready.
    """
    settings = {"model": model_config.to_dict(), "epochs": int(epochs), "seed": int(seed),
                "data_fingerprint": dataset.fingerprint, "item_matrix_sha256": item_matrix_fingerprint(item_matrix),
                "train": dict(sorted(train.items()))}
    return json.loads(json.dumps(settings))


def save_fitted(directory, model, settings, history, metrics=None):
    """Write `directory/model.keras` and `directory/fit.json` atomically (the folder is replaced).

    Args:
        directory: str or Path.
        model: the trained `Recommender`.
        settings: dict from `fit_settings`.
        history: `{metric: [value per epoch]}` (`History.history`).
        metrics: dict or `None`. Test metrics.

    Returns:
        `Path` of the folder.
    """
    directory = Path(directory)
    history = {k: [float(v) for v in values] for k, values in history.items()}
    with atomic.atomic_dir(directory) as tmp:
        model.save(tmp / MODEL)
        atomic.write_json(tmp / RECORD, {"settings": settings, "history": history, "metrics": metrics or {}})
    return directory


def load_fitted(directory, settings):
    """The model saved in `directory` if it was trained with exactly `settings`, else `None`.

    Args:
        directory: str or Path. A folder written by `save_fitted` (absent: `None`).
        settings: dict from `fit_settings`.

    Returns:
        `(model, record)` with `record` the `fit.json` dict (`settings`, `history`, `metrics`),
        or `None`.
    """
    import hiertcn_keras.models  # noqa: F401  (registers the custom objects)
    from hiertcn_keras.training.model_file import load_model_file

    directory = Path(directory)
    path = directory / RECORD
    if not (path.is_file() and (directory / MODEL).is_file()):
        return None
    record = json.loads(path.read_text())
    if record.get("settings") != settings:
        return None
    return load_model_file(directory / MODEL), record
