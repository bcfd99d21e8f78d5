"""The accuracy suite's verdict (`benchmarks/bench_accuracy.py`): win, tie or lose beyond 2 std."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_accuracy.py"
spec = importlib.util.spec_from_file_location("bench_accuracy", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _neural(model, recall, mrr, std=0.002):
    return {"model": model, "n_seeds": 3, "deterministic": False, "recall@10": recall, "recall@10_std": std,
            "mrr": mrr, "mrr_std": std}


def _simple(model, recall, mrr):
    return {"model": model, "n_seeds": 1, "deterministic": True, "recall@10": recall, "recall@10_std": 0.0,
            "mrr": mrr, "mrr_std": 0.0}


ORACLE = {"model": "oracle (generator)", "recall@10": 0.8, "mrr": 0.5}


def test_wins_only_beyond_two_standard_deviations_against_every_competitor():
    rows = [_neural("hiertcn", 0.50, 0.30), _neural("gru4rec", 0.40, 0.20), _simple("successor", 0.45, 0.25),
            _simple("pop", 0.10, 0.05), _neural("hiertcn (no prior)", 0.1, 0.1), ORACLE]
    result = bench.verdict(rows)
    assert result["overall"] == "wins" and result["oracle_share"] == pytest.approx(0.625)
    # The best simple baseline per metric, and every neural model but the "(no prior)" rescoring.
    assert [c["against"] for c in result["recall@10"]] == ["successor", "gru4rec"]
    assert result["mrr"][0]["gap"] == pytest.approx(0.05)


@pytest.mark.parametrize("successor, expected", [((0.497, 0.30), "ties"), ((0.55, 0.20), "loses")])
def test_a_gap_within_the_noise_ties_and_a_lost_metric_loses(successor, expected):
    rows = [_neural("hiertcn", 0.50, 0.30), _simple("successor", *successor)]
    result = bench.verdict(rows)
    assert result["overall"] == expected and result["oracle_share"] is None
    if expected == "loses":  # wins MRR, loses Recall@10: a loss is reported, not averaged away
        assert [c["outcome"] for c in result["recall@10"] + result["mrr"]] == ["lose", "win"]


def test_one_seed_names_no_winner():
    rows = [dict(_neural("hiertcn", 0.9, 0.9), n_seeds=1, **{"recall@10_std": None, "mrr_std": None}),
            _simple("successor", 0.1, 0.1)]
    assert bench.verdict(rows)["overall"] == "ties"
