"""`hiertcn tune` and `compare --tune --refit` end to end on a tiny synthetic log (simple baselines:
no network is trained here; the neural search is tested in tests/training/test_tuning.py)."""

import csv
import json

import pytest

from hiertcn_keras import cli
from hiertcn_keras.cli.verbs_tuning import baseline_defaults, table_warnings


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-cli")
    log = root / "log.csv"
    assert cli.main(["synth", "--out", str(log), "--users", "40", "--items", "60", "--seed", "1"]) == 0
    assert cli.main(["prepare", "--input", str(log), "--out", str(root / "prep")]) == 0
    return root / "prep"


def test_tune_a_baseline_writes_every_trial_and_the_result(prepared, tmp_path, capsys):
    out = tmp_path / "tune-sknn"
    assert cli.main(["tune", "--data", str(prepared), "--model", "sknn", "--out", str(out), "--trials", "2"]) == 0
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 2 and {"params.k", "validation.recall@10", "value"} <= set(rows[0])
    result = json.loads((out / "result.json").read_text())
    assert result["split"] == "test" and result["tuned_trials"] == 2 and 0 < result["coverage"] <= 1
    assert "at most 2 trials per model" in capsys.readouterr().out


def test_compare_tune_refit_tables_carry_budget_refit_and_coverage(prepared, tmp_path):
    out = tmp_path / "compare"
    assert cli.main(["compare", "--data", str(prepared), "--models", "sknn", "pop", "--out", str(out),
                     "--tune", "--refit", "--trials", "2"]) == 0
    table = (out / "table.md").read_text()
    assert "at most 2 trials per model" in table and "refit" in table
    results = json.loads((out / "table.json").read_text())
    assert [r["model"] for r in results] == ["sknn", "pop"]
    assert all(r["runs"][0]["refit"] and r["n_events"] <= r["n_targets"] for r in results)
    assert (out / "refit-data" / "config.json").is_file() and (out / "sknn-tune" / "trials.json").is_file()


def test_compare_refuses_tune_on_the_validation_split(prepared, tmp_path, capsys):
    assert cli.main(["compare", "--data", str(prepared), "--models", "pop", "--out", str(tmp_path / "c"),
                     "--tune", "--split", "valid"]) == 2
    assert "--split valid" in capsys.readouterr().err


def test_low_coverage_warns_on_stderr(capsys):
    lines = table_warnings([{"model": "m", "coverage": 0.4, "n_scored": 4, "n_targets": 10},
                           {"model": "ok", "coverage": 0.9}])
    assert len(lines) == 1 and "40%" in lines[0] and "40%" in capsys.readouterr().err


def test_baseline_defaults_are_the_constructor_defaults():
    assert baseline_defaults("sknn")["k"] == 100 and baseline_defaults("mv")["window"] == 10


def test_a_run_still_improving_at_its_cap_is_flagged(capsys):
    lines = table_warnings([{"model": "hiertcn", "still_improving": True, "best_epoch": 10, "epoch_cap": 10},
                            {"model": "gru", "still_improving": False}])
    assert len(lines) == 1 and "not converged" in lines[0] and "hiertcn" in capsys.readouterr().err


def test_tune_refuses_a_folder_it_did_not_write(prepared, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("a user's file")
    assert cli.main(["tune", "--data", str(prepared), "--model", "sknn", "--out", str(tmp_path)]) == 2
    assert "not a search" in capsys.readouterr().err and (tmp_path / "mine.txt").read_text() == "a user's file"


def test_compare_tune_seeds_tunes_once_and_repeats_the_chosen_setting(prepared, tmp_path):
    # A neural row under --tune carries the facts of the runs that won (training time, curve);
    # with --seeds 2 the model is tuned once and its chosen setting retrained with seed 1.
    out = tmp_path / "compare-neural"
    assert cli.main(["compare", "--data", str(prepared), "--models", "gru", "pop", "--out", str(out), "--tune",
                     "--seeds", "2", "--trials", "1", "--epochs", "1", "--embedding-dim", "8", "--batch-size", "32",
                     "--no-jit", "--quiet"]) == 0
    gru, pop = json.loads((out / "table.json").read_text())
    assert gru["model"] == "gru" and gru["train_seconds"] > 0 and gru["epochs"] == [1, 1]
    assert gru["n_seeds"] == 2 and gru["seeds"] == [0, 1] and gru["recall@10_std"] is not None
    trials = json.loads((out / "gru-tune" / "trials.json").read_text())
    assert len(trials) == 1  # one search, not one per seed
    chosen = json.loads((out / "gru-tune" / "best" / "config.json").read_text())["model"]
    repeated = json.loads((out / "gru.seed-1" / "config.json").read_text())["model"]
    assert repeated == dict(chosen, seed=1)
    assert pop["deterministic"] and pop["n_seeds"] == 1
    table = (out / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| gru"))
    assert row.rstrip(" |").split("|")[-1].strip() != "–" and " ± " in row
    assert "tuned once (seed 0)" in table
