import math

import pytest

from hiertcn_keras.training.seeds import best_row, summarise_seeds, winner


def test_summarise_seeds_mean_std_and_coverage():
    runs = [{"recall@10": 0.2, "mrr": 0.1, "n_events": 50, "epochs_trained": 5, "best_epoch": 3, "still_improving": False,
             "train_seconds": 10.0, "seed": 0},
            {"recall@10": 0.4, "mrr": 0.3, "n_events": 50, "epochs_trained": 4, "best_epoch": 4, "still_improving": True,
             "train_seconds": 20.0, "seed": 1}]
    row = summarise_seeds("gru", runs, n_targets=200)
    assert row["recall@10"] == pytest.approx(0.3)
    assert row["recall@10_std"] == pytest.approx(math.sqrt(0.02))  # sample std of 0.2, 0.4
    assert (row["n_events"], row["coverage"], row["n_seeds"]) == (50, 0.25, 2)
    assert (row["epochs"], row["best_epoch"], row["still_improving"]) == ([5, 4], [3, 4], 1)
    assert row["train_seconds"] == 15.0 and row["seeds"] == [0, 1]
    once = summarise_seeds("pop", [{"recall@10": 0.1, "n_events": 50}], n_targets=100, deterministic=True)
    assert once["recall@10_std"] == 0.0 and "epochs" not in once
    # One seed of a random model: no standard deviation is known.
    assert summarise_seeds("gru", runs[:1])["recall@10_std"] is None
    with pytest.raises(ValueError, match="different numbers of events"):
        summarise_seeds("gru", [dict(runs[0]), dict(runs[1], n_events=49)])


def row(name, mean, std):
    return {"model": name, "recall@10": mean, "recall@10_std": std, "mrp": 1 - mean, "mrp_std": std, "n_seeds": 3}


def test_winner_needs_two_standard_deviations():
    # Gap 0.1; noise 2·sqrt(0.03² + 0.04²) = 0.1: not beyond it. With std 0.03 each: 0.0849 < 0.1.
    assert winner(row("a", 0.5, 0.03), row("b", 0.4, 0.04)) is None
    assert winner(row("a", 0.5, 0.03), row("b", 0.4, 0.03)) == "a"
    assert winner(row("a", 0.4, 0.03), row("b", 0.5, 0.03)) == "b"
    # Lower is better for MRP (a: 0.5, b: 0.6).
    assert winner(row("a", 0.5, 0.0), row("b", 0.4, 0.0), "mrp") == "a"
    assert winner(row("a", 0.5, None), row("b", 0.1, 0.0)) is None  # unknown noise
    assert winner(row("a", 0.5, 0.0), row("b", 0.5, 0.0)) is None  # a tie


def test_best_row():
    rows = [row("a", 0.5, 0.01), row("b", 0.45, 0.01), {"model": "oracle"}]
    best, clear = best_row(rows)
    assert best["model"] == "a" and clear
    best, clear = best_row([row("a", 0.5, 0.05), row("b", 0.45, 0.01)])
    assert best["model"] == "a" and not clear
