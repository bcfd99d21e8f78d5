"""A leftover `RUN_DIR.partial` is resumed only by the same run (`hiertcn_keras.training.resume`).

Issue case 2: a re-run with other data, learning rate, seed or architecture silently continued
the old weights (or failed with Keras' "objects could not be loaded"), and failed runs left
their `.partial` behind. Case 3: retraining wiped a run folder holding the serving user store.
"""

import io
import json

import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.artifacts.output_guard import OutputError
from hiertcn_keras.training import callbacks as cb
from hiertcn_keras.training import resume
from hiertcn_keras.artifacts.run_dir import partial_dir
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import model_config_for, train

TINY = dict(embedding_dim=8, high_units=(8,), tcn_channels=(8,), kernel_size=2, flat_tcn_channels=(8,),
            batch_size=2, sessions_per_batch=2, flat_len=5, learning_rate=1e-2)


def quiet(epochs=1, **kwargs):
    return TrainConfig(epochs=epochs, jit_compile=False, verbose=0, patience=5, validate=False, **kwargs)


@pytest.fixture(scope="module")
def data(tiny_data_dir):
    return tiny_data_dir, PreparedDataset(tiny_data_dir)


def settings(dataset, train_config=None, **model):
    config = model_config_for(dataset, model="tcn", **{**TINY, **model})
    return resume.run_settings(config, train_config or quiet(), dataset.fingerprint)


def test_differences_name_every_changed_setting(data):
    _, dataset = data
    a = settings(dataset)
    b = settings(dataset, quiet(seed=3), learning_rate=0.5, tcn_channels=(16,))
    b["data_fingerprint"] = "0123"
    changed = resume.differences(a, b)
    assert changed == ["data_fingerprint: " + repr(dataset.fingerprint) + " → '0123'",
                       "model.learning_rate: 0.01 → 0.5", "model.tcn_channels: [8] → [16]",
                       "train.seed: 0 → 3"]
    assert resume.differences(a, settings(dataset)) == []
    assert resume.differences(a, settings(dataset, TrainConfig(epochs=1, jit_compile=False, verbose=2,
                                                               patience=5, validate=False))) == []


@pytest.mark.parametrize("change", [
    {"learning_rate": 0.5}, {"tcn_channels": (16,)}, {"train": quiet(seed=1)}, {"data": "other"},
])
def test_a_checkpoint_of_other_settings_is_refused_before_training(data, tmp_path, change):
    data_dir, dataset = data
    out = tmp_path / "run"
    resume.open_checkpoint(out, settings(dataset))  # what a killed run leaves (settings first)
    model_changes = {k: v for k, v in change.items() if k not in ("train", "data")}
    config = model_config_for(dataset, model="tcn", **{**TINY, **model_changes})
    recorded = json.loads((partial_dir(out) / resume.SETTINGS_FILE).read_text())
    if "data" in change:  # the same command on other data: only the fingerprint differs
        recorded["data_fingerprint"] = "another dataset"
        (partial_dir(out) / resume.SETTINGS_FILE).write_text(json.dumps(recorded))
    with pytest.raises(resume.ResumeError, match="other settings.*--overwrite") as caught:
        train(data_dir, config, change.get("train", quiet()), out)
    assert str(partial_dir(out)) in str(caught.value)
    assert partial_dir(out).is_dir() and not out.exists()  # the refusal deletes nothing


def test_a_checkpoint_without_settings_is_refused(data, tmp_path):
    data_dir, dataset = data
    out = tmp_path / "run"
    (partial_dir(out) / "backup").mkdir(parents=True)  # an earlier release's checkpoint
    with pytest.raises(resume.ResumeError, match="no settings.json"):
        resume.open_checkpoint(out, settings(dataset))


def test_overwrite_discards_the_other_checkpoint_and_says_so(data, tmp_path):
    _, dataset = data
    out = tmp_path / "run"
    work = resume.open_checkpoint(out, settings(dataset, learning_rate=0.5))
    (work / "progress.json").write_text("{}")
    log = io.StringIO()
    again = resume.open_checkpoint(out, settings(dataset), overwrite=True, log=log)
    assert "discarding the checkpoint" in log.getvalue() and "model.learning_rate" in log.getvalue()
    assert not (again / "progress.json").exists()
    assert json.loads((again / resume.SETTINGS_FILE).read_text()) == settings(dataset)


def test_the_same_settings_resume(data, tmp_path):
    _, dataset = data
    out = tmp_path / "run"
    work = resume.open_checkpoint(out, settings(dataset))
    (work / "backup").mkdir()
    log = io.StringIO()
    assert resume.open_checkpoint(out, settings(dataset), log=log) == work
    assert (work / "backup").is_dir() and "resuming" in log.getvalue()


def test_a_failed_run_removes_its_checkpoint(data, tmp_path, monkeypatch):
    data_dir, dataset = data
    out = tmp_path / "run"

    def failing(self, epoch, logs=None):
        raise RuntimeError("NaN loss")

    monkeypatch.setattr(cb.EpochTimer, "on_epoch_begin", failing)
    with pytest.raises(RuntimeError, match="NaN loss"):
        train(data_dir, model_config_for(dataset, model="tcn", **TINY), quiet(), out)
    assert not partial_dir(out).exists() and not out.exists()


def test_a_foreign_out_folder_is_refused_before_training(data, tmp_path):
    data_dir, dataset = data
    out = tmp_path / "notes"
    out.mkdir()
    (out / "README.md").write_text("mine")
    with pytest.raises(OutputError, match="not a run written by hiertcn.*--overwrite"):
        train(data_dir, model_config_for(dataset, model="tcn", **TINY), quiet(), out)
    assert (out / "README.md").read_text() == "mine" and not partial_dir(out).exists()


def test_a_run_folder_holding_a_user_store_is_never_replaced(data, tmp_path):
    data_dir, dataset = data
    out = tmp_path / "run"
    (out / "serving").mkdir(parents=True)
    (out / "model.keras").write_bytes(b"")
    (out / "config.json").write_text("{}")
    (out / "serving" / "users.sqlite").write_bytes(b"state of every user")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="serving user store"):
            train(data_dir, model_config_for(dataset, model="tcn", **TINY), quiet(), out, overwrite=overwrite)
    assert (out / "serving" / "users.sqlite").read_bytes() == b"state of every user"
