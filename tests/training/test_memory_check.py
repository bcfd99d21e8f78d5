"""The memory check: the estimate's scaling, the refusal naming the flags, and the CLI's error path
(exit 2, no traceback) for a refused config and for an allocation failure that still happens."""

import pytest

from hiertcn_keras import cli
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.training import memory_check as mc
from hiertcn_keras.training import trainer

GLOBO = dict(n_items=41_700, n_catalogue=41_626)
# The full softmax on that catalogue: given explicitly, as the default there is the sampled one.
FULL = dict(loss="softmax", **GLOBO)


def test_full_softmax_logits_scale_with_batch_and_catalogue():
    base = mc.estimate_step(ModelConfig(batch_size=32, **FULL))
    doubled_batch = mc.estimate_step(ModelConfig(batch_size=64, **FULL))
    doubled_catalogue = mc.estimate_step(ModelConfig(batch_size=32, n_items=83_400, n_catalogue=83_251,
                                                     loss="softmax"))
    assert base.positions == 32 * 10 * 20 and base.logit_columns == 41_627
    assert doubled_batch.parts["logits"] == 2 * base.parts["logits"]
    assert doubled_catalogue.parts["logits"] == pytest.approx(2 * base.parts["logits"], rel=1e-4)
    assert doubled_batch.parts["parameters"] == base.parts["parameters"]


def test_sampled_softmax_logits_do_not_grow_with_the_catalogue():
    small = mc.estimate_step(ModelConfig(loss="sampled_softmax", n_items=1000, n_catalogue=900))
    # At the official batch of 32 rows (the default is smaller) the logits dominate the full softmax.
    large = mc.estimate_step(ModelConfig(loss="sampled_softmax", batch_size=32, **GLOBO))
    assert small.parts["logits"] == mc.estimate_step(ModelConfig(loss="sampled_softmax", **GLOBO)).parts["logits"]
    # The default candidates: 1,024 shared negatives, the target, and up to 1,024 in-batch targets.
    assert large.logit_columns == 1024 + 1 + 1024
    assert mc.estimate_step(ModelConfig(loss="sampled_softmax", batch_size=32, in_batch_negatives=False,
                                        n_negatives=20, **GLOBO)).logit_columns == 21
    assert large.total < mc.estimate_step(ModelConfig(batch_size=32, **FULL)).total / 3


def test_refusal_names_the_flags_and_both_figures():
    config = ModelConfig(batch_size=256, **FULL)
    with pytest.raises(mc.InsufficientMemory) as caught:
        mc.check_training_memory(config, available=8 * mc.GIB)
    message = str(caught.value)
    assert "--batch-size" in message and "--loss sampled_softmax" in message
    assert "8.00 GiB available" in message and mc.estimate_step(config).describe() in message
    # The suggested batch size fits; one more does not.
    fitting = int(message.split("--batch-size ")[2].split()[0])
    budget = mc.USABLE_SHARE * 8 * mc.GIB
    assert mc.estimate_step(config.replace(batch_size=fitting)).total <= budget
    assert mc.estimate_step(config.replace(batch_size=fitting + 1)).total > budget
    assert mc.check_training_memory(config.replace(batch_size=fitting), available=8 * mc.GIB).total <= budget


def test_sampled_softmax_refusal_names_negatives():
    config = ModelConfig(loss="sampled_softmax", n_negatives=200_000, n_items=300_000, n_catalogue=290_000,
                         batch_size=32)
    with pytest.raises(mc.InsufficientMemory, match="fewer --negatives"):
        mc.check_training_memory(config, available=8 * mc.GIB)


def test_available_bytes_reads_this_machine():
    available = mc.available_bytes()
    assert available is None or available > 0


def test_allocation_failures_are_recognised():
    class ResourceExhaustedError(Exception):
        pass

    assert mc.is_allocation_failure(MemoryError())
    assert mc.is_allocation_failure(ResourceExhaustedError("OOM when allocating tensor"))
    assert mc.is_allocation_failure(RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 24 GiB"))
    assert not mc.is_allocation_failure(RuntimeError("shape mismatch"))


def test_trainer_refuses_before_building_the_model(tiny_data_dir, tmp_path, monkeypatch):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.train_config import TrainConfig

    monkeypatch.setattr(mc, "available_bytes", lambda: 64 * 2**20)

    def no_build(*args, **kwargs):
        raise AssertionError("the model was built before the memory check")

    monkeypatch.setattr(trainer, "build_recommender", no_build)
    config = trainer.model_config_for(PreparedDataset(tiny_data_dir), batch_size=4)
    with pytest.raises(mc.InsufficientMemory):
        trainer.train(tiny_data_dir, config, TrainConfig(epochs=1, verbose=0), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_refuses_an_absurd_batch_size_with_exit_2(tiny_data_dir, tmp_path, capsys):
    code = cli.main(["train", "--data", str(tiny_data_dir), "--out", str(tmp_path / "run"),
                     "--batch-size", "100000000"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hiertcn train: error: one training step") and "--batch-size" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_cli_reports_an_allocation_failure_with_exit_2(tiny_data_dir, tmp_path, capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 24.2 GiB")

    monkeypatch.setattr(trainer, "train", out_of_memory)
    code = cli.main(["train", "--data", str(tiny_data_dir), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "out of memory during training" in err and "--batch-size" in err and "Traceback" not in err


def test_a_globo_sized_catalogue_defaults_to_the_sampled_softmax_and_fits_8_gb():
    config = ModelConfig(**GLOBO)
    assert config.loss == "sampled_softmax" and config.loss_by_default
    assert mc.estimate_step(config).total < 2 * mc.GIB
    assert mc.check_training_memory(config, available=8 * mc.GIB).total < 2 * mc.GIB


SMALL = ["--embedding-dim", "8", "--tcn-channels", "8", "--high-units", "8", "--epochs", "1", "--no-jit", "--quiet"]


@pytest.mark.parametrize("batch", [pytest.param(1, marks=pytest.mark.slow), pytest.param(8, marks=pytest.mark.slow),
                                   pytest.param(256, marks=pytest.mark.slow),
                                   pytest.param(4096, marks=pytest.mark.slow), 100_000])
def test_every_batch_size_runs_or_is_refused_cleanly(tiny_data_dir, tmp_path, capsys, monkeypatch, batch):
    # 2 GiB free, injected: B = 4096 fits the estimate (6 users, so mostly padding), 100,000 does not.
    monkeypatch.setattr(mc, "available_bytes", lambda: 2 * mc.GIB)
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(tiny_data_dir), "--out", str(out), "--batch-size", str(batch), *SMALL])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if batch <= 4096:
        assert code == 0 and (out / "model.keras").exists()
    else:
        assert code == 2 and err.startswith("hiertcn train: error: one training step") and not out.exists()


def test_packed_sessions_count_rows_times_their_width():
    config = ModelConfig(batch_size=64, **GLOBO)  # HierTCN: packed sessions by default
    padded = mc.estimate_step(config)
    packed = mc.estimate_step(config, row_width=32)
    assert config.packed_sessions and padded.positions == 64 * 10 * 20 and packed.positions == 64 * 32
    assert packed.parts["logits"] == pytest.approx(padded.parts["logits"] * 32 / 200)
    assert mc.estimate_step(config.replace(packed_sessions=False), row_width=32).positions == 64 * 10 * 20
    # The narrowest width (32, or S·L when less) bounds the positions from below.
    assert mc.narrowest_row(config) == 32 and mc.narrowest_row(config.replace(max_session_len=2)) == 20


def test_in_batch_columns_are_at_most_one_per_position():
    config = ModelConfig(batch_size=1, **GLOBO)  # 1,024 shared negatives and in-batch targets
    assert mc.estimate_step(config, row_width=32).logit_columns == 1024 + 1 + 32
    assert mc.estimate_step(config.replace(batch_size=64), row_width=32).logit_columns == 1024 + 1 + 1024


def test_packed_row_width_is_the_widest_batch_of_the_plan(tiny_data_dir):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import batcher_for

    dataset = PreparedDataset(tiny_data_dir)
    config = trainer.model_config_for(dataset, batch_size=2)
    batcher = batcher_for(config, dataset.view("train"), shuffle=True, seed=0, training=True)
    widths = [int(batch["items"].shape[1]) for batch in batcher.batches(0)]
    assert mc.packed_row_width(batcher, sample=10_000) == max(widths)
    assert mc.packed_row_width(batcher, sample=1) in widths
    padded = batcher_for(config, dataset.view("train"), shuffle=True, seed=0, training=False)
    assert mc.packed_row_width(padded) is None
