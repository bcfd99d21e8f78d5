"""`hiertcn train` on JAX with TensorFlow unimportable, checked against the TensorFlow backend.

Initialisers draw from each backend's own random generator (threefry on JAX, TensorFlow's
Philox), so the same seed cannot give the same weights on two backends and the two training
runs differ. What must agree is the model: the JAX-trained `model.keras`, loaded here on the
TensorFlow backend and evaluated on the same split, gives the metrics the JAX run wrote. Ranks
are integers computed from float32 scores, so the metrics agree exactly unless two scores sit
within float32 rounding of each other; 1e-4 leaves room for one such flipped tie among
thousands of events and none here (8 scored events: a flip would move recall by 0.125).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.training.evaluate import evaluate_recommender
from hiertcn_keras.training.trainer import load_run

NO_TF = Path(__file__).with_name("no_tensorflow.py")
TINY_ARGS = ["--epochs", "1", "--embedding-dim", "8", "--tcn-channels", "8", "8", "--high-units", "8", "8",
             "--batch-size", "2", "--sessions-per-batch", "2", "--learning-rate", "0.01", "--quiet"]


def test_blocker_refuses_tensorflow():
    probe = subprocess.run([sys.executable, str(NO_TF), "import-tensorflow"], capture_output=True, text=True)
    assert probe.returncode != 0 and "TensorFlow is blocked" in probe.stderr


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares against the TensorFlow backend")
def test_train_on_jax_without_tensorflow_matches_tensorflow_evaluation(tiny_data_dir, tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, str(NO_TF), "train", "--data", str(tiny_data_dir), "--model", "hiertcn",
                           "--out", str(out), *TINY_ARGS], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "config.json").read_text())
    assert record["backend"] == "jax"
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 1 and history["loss"][0] > 0  # one epoch, through PyDataset

    jax_metrics = json.loads((out / "metrics.json").read_text())
    model, _ = load_run(out)
    tf_metrics = evaluate_recommender(model, PreparedDataset(tiny_data_dir), "test",
                                      tie_policy=record["train"]["tie_policy"])
    # The ranking metrics; metrics.json also holds training facts (best validation score, seconds).
    numeric = [k for k, v in jax_metrics.items() if isinstance(v, float) and k in tf_metrics]
    assert {"recall@10", "mrr", "coverage"} <= set(numeric) and jax_metrics["n_events"] == tf_metrics["n_events"]
    for key in numeric:
        assert tf_metrics[key] == pytest.approx(jax_metrics[key], abs=1e-4), key
