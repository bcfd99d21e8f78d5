"""Progress with an end: each epoch's step count from the queue plan equals the batches the
pipeline yields (resumed runs included), the bar's total follows it, quiet runs get a line at
least every `interval`, and a run starts with a line stating the data and the loss."""

import io
import json

import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.training import progress as prog
from hiertcn_keras.training.evaluate import batcher_for
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import model_config_for, train

TINY = dict(embedding_dim=8, high_units=(8,), tcn_channels=(8,), kernel_size=2, batch_size=2, sessions_per_batch=2)


@pytest.fixture(scope="module")
def batcher(tiny_data_dir):
    config = model_config_for(PreparedDataset(tiny_data_dir), **TINY)
    return batcher_for(config, PreparedDataset(tiny_data_dir).view("train"), shuffle=True, seed=3)


def test_steps_equal_the_batches_of_the_pipeline_from_a_resumed_epoch(batcher):
    from hiertcn_keras.data.pipeline import make_dataset

    steps = prog.EpochSteps(batcher, first_epoch=2)
    data = make_dataset(batcher, first_epoch=2)
    for epoch in (2, 3, 4):
        assert steps(epoch) == sum(1 for _ in data) == len(batcher.plan(epoch))


def test_bar_total_is_each_epochs_own(batcher):
    steps = prog.EpochSteps(batcher, first_epoch=1)
    bar = prog.BoundedProgbar(steps)
    bar.set_params({"verbose": 0, "epochs": 3, "steps": None})
    for epoch in (1, 2):
        bar.on_epoch_begin(epoch)
        assert bar.target == steps(epoch) == len(batcher.plan(epoch))


def test_heartbeat_prints_a_line_per_interval_with_an_eta(batcher):
    now = [0.0]
    stream = io.StringIO()
    steps = prog.EpochSteps(batcher)
    beat = prog.Heartbeat(steps, events_per_step=10, epochs=4, interval=60, stream=stream, clock=lambda: now[0])
    beat.on_epoch_begin(0)
    now[0] += 70.0  # the first step compiles
    beat.on_train_batch_end(0)
    for batch in range(1, 4):
        now[0] += 30.0
        beat.on_train_batch_end(batch)
    lines = stream.getvalue().splitlines()
    total = steps(0)
    assert lines == [f"epoch 1/4 step 1/{total}, first step (with compilation) took 1m10s",
                     f"epoch 1/4 step 3/{total}, 0 events/s, ETA {prog.format_seconds((total - 3) * 30)}"]


def test_heartbeat_speaks_while_no_step_ends(batcher):
    """The thread's tick: the first step compiling, a slow step, silence while steps end, validation."""
    now = [0.0]
    stream = io.StringIO()
    steps = prog.EpochSteps(batcher)
    total = steps(0)
    assert total >= 5
    beat = prog.Heartbeat(steps, events_per_step=10, epochs=2, interval=60, stream=stream,
                          clock=lambda: now[0], period=None)

    def at(t, *calls):
        now[0] = t
        for call in calls:
            call()

    beat.tick()  # before training: nothing to say
    beat.on_epoch_begin(0)
    for t in (30, 60, 90, 120):  # the first step compiles for 150 s
        at(t, beat.tick)
    at(150, lambda: beat.on_train_batch_end(0))  # the last line was at 120 s: none yet
    at(175, beat.tick)
    at(240, beat.tick)  # step 2 runs long
    # Steps end every 20-50 s: the ticker stays silent; the steps' own line comes 70 s after the last.
    at(260, lambda: beat.on_train_batch_end(1))
    at(290, beat.tick)
    at(310, lambda: beat.on_train_batch_end(2))
    at(340, beat.tick)
    at(360, lambda: beat.on_train_batch_end(3))
    at(375, beat.tick)  # 65 s since the last line, but a step ended 15 s ago: silent
    at(361, *[lambda b=b: beat.on_train_batch_end(b) for b in range(4, total)])
    at(422, beat.tick)  # validating
    at(430, beat.tick)  # within the interval: silent
    beat.on_epoch_end(0)
    at(1000, beat.tick)  # between epochs (after training): silent
    rate = 2 / 160  # steps 2-3 in the 160 s after the first
    assert stream.getvalue().splitlines() == [
        f"epoch 1/2 step 1/{total}: the first step (tracing and compilation) is still running, 1m00s so far",
        f"epoch 1/2 step 1/{total}: the first step (tracing and compilation) is still running, 2m00s so far",
        f"epoch 1/2 step 2/{total} still running after 1m30s (a new batch shape compiles once)",
        f"epoch 1/2 step 3/{total}, 0 events/s, ETA {prog.format_seconds((total - 3) / rate)}",
        f"epoch 1/2 step {total}/{total} done: validating, 1m01s so far",
    ]


def test_heartbeat_thread_starts_and_stops_with_training(batcher):
    beat = prog.Heartbeat(prog.EpochSteps(batcher), events_per_step=10, epochs=1, period=0.01)
    beat.on_train_begin()
    assert beat._ticker._thread.is_alive()
    beat.on_train_end()
    assert beat._ticker._thread is None


def test_format_seconds():
    assert [prog.format_seconds(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]


def test_a_quiet_run_states_data_loss_steps_and_epoch_time(tiny_data_dir, tmp_path, capsys):
    dataset = PreparedDataset(tiny_data_dir)
    config = model_config_for(dataset, **TINY)
    model, _, _ = train(tiny_data_dir, config, TrainConfig(epochs=2, jit_compile=False, verbose=2, validate=False),
                        tmp_path / "run", evaluate_test=False)
    out = capsys.readouterr().out
    batcher = batcher_for(config, dataset.view("train"), shuffle=True, seed=0)
    first = out.splitlines()[0]
    assert first.startswith(f"training hiertcn on {len(dataset.view('train')):,} events")
    assert f"{len(batcher.plan(0))} steps per epoch" in first
    # The loss was not given: the catalogue size chose it, and the run says so and records it.
    assert f"loss softmax (chosen for a catalogue of {dataset.n_catalogue:,} items" in first
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["loss_by_default"] is True
    assert "estimated epoch time" in out
    # The optimizer counted exactly the planned steps of both epochs.
    assert int(model.optimizer.iterations.numpy()) == len(batcher.plan(0)) + len(batcher.plan(1))


def test_the_first_line_says_how_the_batch_was_chosen():
    chosen = ModelConfig(n_items=45_001, n_catalogue=44_990, batch_size=64, batch_by_default=True,
                         learning_rate=0.0085)
    line = prog.run_header(chosen, 1_503, 2_398_739, 270_475)
    assert "batch 64 (chosen for 2,398,739 training events: 8 up to 200,000" in line
    assert "learning rate 0.0085; --batch-size overrides); 1,503 steps per epoch" in line
    given = prog.run_header(chosen.replace(batch_by_default=False), 1_503, 2_398_739, 270_475)
    assert "; batch 64; 1,503 steps per epoch" in given
    # The sampled softmax's candidates are named too.
    assert ("loss sampled_softmax with 1,024 shared negatives (popularity^0.75) and the batch's targets, log-Q "
            "corrected (chosen for a catalogue of 44,990 items") in line
