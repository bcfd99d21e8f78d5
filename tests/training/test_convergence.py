"""`convergence_summary`: epochs trained, best epoch and the still-improving mark."""

from hiertcn_keras.training.convergence import convergence_summary


def test_best_epoch_before_the_last_is_converged():
    history = {"loss": [3.0, 2.0, 1.5, 1.4], "val_recall@10": [0.1, 0.3, 0.25, 0.2]}
    summary = convergence_summary(history, "recall@10", 50)
    assert summary == {"epochs_trained": 4, "epoch_cap": 50, "best_epoch": 2, "best_val_recall@10": 0.3,
                       "still_improving": False}


def test_best_epoch_at_the_last_is_still_improving_and_mrp_is_minimised():
    assert convergence_summary({"val_recall@10": [0.1, 0.2]}, "recall@10", 2)["still_improving"] is True
    assert convergence_summary({"val_mrp": [0.3, 0.2, 0.25]}, "mrp", 9)["best_epoch"] == 2


def test_without_validation_there_is_no_best_epoch():
    summary = convergence_summary({"loss": [2.0, 1.0]}, "recall@10", 2)
    assert summary["epochs_trained"] == 2 and summary["best_epoch"] is None and summary["still_improving"] is None


def test_nan_epochs_are_skipped_and_the_longest_curve_counts():
    history = {"loss": [3.0, 2.0, 1.0], "val_recall@10": [0.1, float("nan"), 0.05]}
    summary = convergence_summary(history)
    assert (summary["epochs_trained"], summary["best_epoch"], summary["still_improving"]) == (3, 1, False)
    assert summary["epoch_cap"] is None
    assert convergence_summary({"loss": [1.0], "val_recall@10": [float("nan")]})["best_epoch"] is None
