"""How a training run converged: epochs trained, best epoch, and whether it was still improving."""

from __future__ import annotations

import math

from hiertcn_keras.training.optimizers import monitor_mode


def convergence_summary(history, monitor, epoch_cap):
    """Summarise a run's validation curve.

    Args:
        history: dict `{metric: [value per epoch]}` (the run's `history.json`).
        monitor: str. The early-stopping metric without the `val_` prefix (`recall@10`, ...).
        epoch_cap: int. The run's maximum number of epochs.

    Returns:
        dict: `epochs_trained`, `best_epoch` (1-based; `None` without validation),
        `best_val_<monitor>`, and `still_improving` (`True` when the best epoch was the last
        one: more epochs could have helped; `None` without validation).
    """
    key = f"val_{monitor}"
    epochs = len(next(iter(history.values()), [])) if history else 0
    values = [v for v in history.get(key, []) if not math.isnan(v)]
    summary = {"epochs_trained": epochs, "epoch_cap": int(epoch_cap), "best_epoch": None,
               f"best_val_{monitor}": None, "still_improving": None}
    if values and len(values) == epochs:
        best = (max if monitor_mode(monitor) == "max" else min)(range(epochs), key=lambda i: values[i])
        summary.update({"best_epoch": best + 1, f"best_val_{monitor}": float(values[best]),
                        "still_improving": best + 1 == epochs})
    return summary
