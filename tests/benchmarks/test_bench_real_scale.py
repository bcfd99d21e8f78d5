"""`benchmarks/bench_real_scale.py`: what it reads from a run's output and files, and its tables."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_real_scale.py"
spec = importlib.util.spec_from_file_location("bench_real_scale", PATH)
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # its dataclass looks its module up
spec.loader.exec_module(bench)

HEADER = ("training hiertcn on 240,512 events, 27,001 users, catalogue 4,481 items; loss softmax (chosen for a "
          "catalogue of 4,481 items: sampled_softmax from 20,000; --loss overrides); batch 8 (chosen for 240,512 "
          "training events: 8 up to 200,000, doubling with the log, at most 64; learning rate 0.003; --batch-size "
          "overrides); 1,200 steps per epoch (epoch time printed after the first steps)")


def lines(*stamped):
    return [(wall, cpu, text) for wall, cpu, text in stamped]


def test_the_benchmark_trains_every_neural_model_of_the_command_line():
    from hiertcn_keras.cli.common import NEURAL

    assert bench.MODELS == NEURAL


def test_a_whole_epoch_gives_the_steps_and_the_steady_step_time_between_progress_lines():
    parsed = bench.parse_train_output(lines(
        (1.0, 0.5, "some start-up line"),
        (10.0, 9.0, HEADER),
        (80.0, 80.0, "epoch 1/1 step 1/1,200, first step (with compilation) took 1m10s"),
        (81.0, 81.0, "measured 250 ms/step over steps 2-6 (the first, compiling, left out): estimated epoch time 5m00s"),
        (130.0, 120.0, "epoch 1/1 step 201/1,200, 1,000 events/s, ETA 5m00s"),
        (190.0, 160.0, "epoch 1/1 step 401/1,200, 1,000 events/s, ETA 4m00s"),
        (400.0, 300.0, "epoch 1/1 - 330s - loss: 6.1 - val_recall@10: 0.2"),
    ))
    assert parsed["loss"] == "softmax" and parsed["batch"] == 8
    assert parsed["steps_per_epoch"] == parsed["steps_trained"] == 1200
    assert parsed["measured_ms_per_step"] == 250.0
    assert parsed["progress_lines"] == 3
    # from step 1 at 80 s to step 401 at 190 s: 110 s and 80 CPU-s for 400 steps
    assert parsed["steady_ms_per_step"] == pytest.approx(275.0)
    assert parsed["steady_cpu_ms_per_step"] == pytest.approx(200.0)
    # the silences from the run's first line to the last progress line: the compiling step's 70 s
    assert parsed["max_silence_s"] == pytest.approx(70.0)
    assert parsed["max_silence_after_first_step_s"] == pytest.approx(60.0)  # 80, 81, 130, 190


def test_a_time_limited_epoch_counts_the_steps_it_trained_and_a_silent_run_has_no_steady_rate():
    parsed = bench.parse_train_output(lines(
        (10.0, 9.0, HEADER.replace("1,200 steps", "12,345 steps")),
        (500.0, 400.0, "time limit of 480 s reached after step 1,234 of this epoch: stopping"),
    ))
    assert parsed["steps_per_epoch"] == 12345 and parsed["steps_trained"] == 1234
    assert math.isnan(parsed["steady_ms_per_step"]) and math.isnan(parsed["steady_cpu_ms_per_step"])
    assert parsed["max_silence_s"] == pytest.approx(490.0)
    assert math.isnan(parsed["max_silence_after_first_step_s"])
    assert bench.parse_train_output([])["steps_per_epoch"] is None


def run_files(time_limited=False):
    config = {"train_events_per_epoch": 240_000, "model": {"loss": "softmax", "batch_size": 8, "packed_sessions": True}}
    history = {"epoch_seconds": [600.0], "val_recall@10": [0.25], "val_mrr": [0.125], "val_seconds": [30.0],
               "time_limit_reached": [1.0 if time_limited else 0.0]}
    metrics = {"recall@10": 0.2, "mrr": 0.1, "n_events": 30_000}
    return config, history, metrics


def test_the_training_row_reads_the_run_and_the_table_shows_it_beside_the_successor_baseline():
    stage = bench.Stage(wall=900.0, cpu=1200.0, peak=int(2.5e9))
    parsed = {"steps_per_epoch": 1200, "steps_trained": 600, "steady_ms_per_step": 500.0,
              "steady_cpu_ms_per_step": 400.0, "measured_ms_per_step": 450.0, "max_silence_s": 61.0,
              "max_silence_after_first_step_s": 59.0, "batch": 8,
              "loss": "softmax", "progress_lines": 9}
    row = bench.training_row("hiertcn", stage, parsed, *run_files(time_limited=True), estimate_bytes=int(1.5e9))
    assert row["time_limited"] and row["epoch_events"] == 120_000  # half the steps: half the events
    assert row["events_per_s"] == pytest.approx(200.0)
    assert row["ms_per_step"] == pytest.approx(1000.0)
    assert row["events_per_cpu_s"] == pytest.approx(500.0)  # 200 events per step in 0.4 CPU-s
    assert stage.share == pytest.approx(4 / 3)
    table = bench.format_training_table([row], {"recall@10": 0.3, "mrr": 0.15})
    assert ("| hiertcn | softmax | 8 packed | 600 of 1,200 (time limit) | 600 | 1,000 | 400 | 200 | 500 | 30 | "
            "2.50 (1.50) | 61 / 59 | 0.2500 | 0.1250 | 0.2000 | 0.1000 |") in table
    assert table.splitlines()[-1] == ("| successor (baseline) | – | – | – | – | – | – | – | – | – | – | – | – | – | "
                                      "0.3000 | 0.1500 |")


def test_the_stage_table_gives_the_cpu_share_and_the_events_per_second():
    table = bench.format_stage_table([{"stage": "prepare", "wall_s": 20.0, "cpu_s": 10.0, "peak_rss_bytes": 8e8,
                                       "events": 300_000, "note": ""},
                                      {"stage": "train gru: whole command", "wall_s": 0.0, "cpu_s": 0.0,
                                       "peak_rss_bytes": 0, "events": None, "note": "x"}])
    assert "| prepare | 20.0 | 10.0 | 0.50 | 0.80 | 300,000 | 15,000 |  |" in table
    assert "| train gru: whole command | 0.0 | 0.0 | – | 0.00 | – | – | x |" in table


def test_time_limits_apply_to_every_model_or_one_and_bad_values_are_refused():
    assert bench.parse_time_limits(["20", "tcn=5"], ["hiertcn", "tcn"]) == {"hiertcn": 20.0, "tcn": 5.0}
    assert bench.parse_time_limits(None, ["gru"]) == {}
    for bad in (["x"], ["tcn=0"], ["nope=3"]):
        with pytest.raises(SystemExit):
            bench.parse_time_limits(bad, ["tcn"])
