"""Run directories: what a training run leaves behind, written atomically.

    RUN_DIR/model.keras      the trained `Recommender` (loads with keras.models.load_model)
    RUN_DIR/config.json      resolved model and training config, data path and fingerprint,
                             git commit, Keras backend and versions
    RUN_DIR/history.json     per-epoch training loss, validation metrics, seconds
    RUN_DIR/metrics.json     test metrics (keys of DESIGN.md §6)
    RUN_DIR/logs/            TensorBoard logs

While training, everything lives in `RUN_DIR.partial/` (with the `backup/` checkpoint that a
killed run resumes from); the final folder appears only when the run has succeeded.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np


def partial_dir(run_dir):
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".partial")


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
