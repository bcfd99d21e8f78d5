import json

import pytest

from hiertcn_keras.training.comparison import compare_models, format_comparison, write_comparison


def fake_neural(name, seed):
    return {"recall@10": 0.3 + 0.1 * seed, "mrr": 0.1, "n_events": 40, "epochs_trained": 3, "best_epoch": 3,
            "still_improving": True, "train_seconds": 2.0, "protocol": "temporal", "split": "test",
            "tie_policy": "conservative"}


def test_compare_models_runs_baselines_once_and_neural_per_seed():
    calls = []

    def baseline(name):
        calls.append(name)
        return {"recall@10": 0.2, "mrr": 0.05, "n_events": 40}

    rows = compare_models(["gru", "pop"], [0, 1, 2], run_neural=fake_neural, run_baseline=baseline, neural={"gru"},
                          n_targets=100, log=None)
    assert calls == ["pop"]
    gru, pop = rows
    assert gru["n_seeds"] == 3 and gru["recall@10"] == pytest.approx(0.4) and gru["recall@10_std"] == pytest.approx(0.1)
    assert pop["deterministic"] and pop["recall@10_std"] == 0.0 and pop["coverage"] == 0.4
    with pytest.raises(ValueError, match="seeds must not be empty"):
        compare_models(["gru"], [], run_neural=fake_neural, run_baseline=None, neural={"gru"}, n_targets=1)


def test_format_marks_and_warnings(tmp_path):
    rows = compare_models(["gru", "pop"], [0, 1], run_neural=fake_neural, neural={"gru"}, n_targets=100, log=None,
                          run_baseline=lambda name: {"recall@10": 0.2, "mrr": 0.05, "n_events": 40})
    table = format_comparison(rows, labels=["budget: untuned"])
    lines = table.splitlines()
    assert lines[0].startswith("| model | seeds | recall@10 |") and "coverage" in lines[0] and "best epoch" in lines[0]
    assert "| gru ↑ | 2 | 0.3500 ± 0.0707 |" in table
    assert "| pop | det. | 0.2000 ± 0.0000 |" in table and "| 40.0% | 3/3 | 3/3 | 2 |" in table
    assert "WARNING: fewer than half" in table and "gru, pop" in table
    # Gap 0.15 > 2 · sqrt(0.0707² + 0²) = 0.141: a clear winner.
    assert "best Recall@10: gru (ahead of every other row" in table and table.endswith("budget: untuned")
    json_path, md_path = write_comparison(tmp_path / "out", rows, table)
    assert json.loads(json_path.read_text())[0]["model"] == "gru"
    assert md_path.read_text() == table + "\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["table.json", "table.md"]  # no temporary left


def test_a_row_whose_scores_carried_a_prior_is_named_a_hybrid():
    def neural(name, seed):
        weights = {"hiertcn": {"transition_gamma": 2.0} if seed else {}, "gru": {"recency_beta": 0.0}}[name]
        return dict(fake_neural(name, seed), **weights)

    rows = compare_models(["hiertcn", "gru"], [0, 1], run_neural=neural, neural={"hiertcn", "gru"}, n_targets=100,
                          log=None, run_baseline=None)
    table = format_comparison(rows)
    assert "| hiertcn + priors ↑ |" in table and "| gru ↑ |" in table  # weight 0: the plain model
    assert rows[0]["model"] == "hiertcn"  # the row's key is unchanged (runs are found by it)
    assert "a hybrid of the network and counts" in table
    assert "a hybrid" not in format_comparison(rows[1:])
