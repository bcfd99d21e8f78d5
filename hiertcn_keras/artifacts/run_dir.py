"""Run directories: what a training run leaves behind, written atomically.

    RUN_DIR/model.keras      the trained `Recommender` (loads with keras.models.load_model)
    RUN_DIR/config.json      resolved model and training config, data path and fingerprint,
                             git commit, Keras backend and versions
    RUN_DIR/history.json     per-epoch training loss, validation metrics, seconds
    RUN_DIR/metrics.json     test metrics (keys: docs/concepts.md#metrics)
    RUN_DIR/logs/            TensorBoard logs

While training, everything lives in `RUN_DIR.partial/` (with the `backup/` checkpoint that a
killed run resumes from); the final folder appears only when the run has succeeded.

This module reads and names the files; loading `model.keras` needs Keras and the registered
custom objects, so it sits higher up (`hiertcn_keras.training.trainer.load_run`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np

from hiertcn_keras.artifacts.hashing import sha256_file

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"


def partial_dir(run_dir):
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".partial")


def read_run_record(run_dir):
    """The `config.json` of a finished run directory (the run's record).

    Args:
        run_dir: str or Path. Written by `hiertcn train`.

    Returns:
        dict.

    Raises:
        FileNotFoundError: `run_dir` holds no `model.keras`.
    """
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{run_dir}: no model.keras; is this a run directory written by `hiertcn train`?")
    return json.loads((run_dir / CONFIG_FILE).read_text())


def run_fingerprint(run_dir):
    """sha256 of a run's `model.keras` and `config.json`, 16 hex characters."""
    return sha256_file(Path(run_dir) / MODEL_FILE, Path(run_dir) / CONFIG_FILE)[:16]


def git_commit():
    """The current git commit of the package checkout (with `-dirty`), or `None`."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def item_matrix_fingerprint(item_matrix):
    """sha256 of an item matrix as float32 (`None` for `None`): what a pretrained run was trained on."""
    if item_matrix is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(item_matrix, dtype=np.float32).tobytes()).hexdigest()
