"""How a training run converged: epochs trained, best epoch, and whether it was still improving.

The one place that reads a run's validation curve: `train` writes its summary into
`metrics.json`, `tune` records it for every trial, `refit` reports its selection run's, and
`compare` (through `seeds.summarise_seeds`) puts it in the table's epoch columns.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.training.optimizers import monitor_mode


def convergence_summary(history, monitor="recall@10", epoch_cap=None):
    """Summarise a run's validation curve.

    Args:
        history: dict `{metric: [value per epoch]}` (the run's `history.json`).
        monitor: str. The early-stopping metric without the `val_` prefix (`recall@10`, ...;
            `mrp` and `loss` are minimised). Defaults to `"recall@10"`.
        epoch_cap: int or `None`. The run's maximum number of epochs (recorded as is).

    Returns:
        dict: `epochs_trained` (the longest curve of `history`), `epoch_cap`, `best_epoch`
        (1-based; `None` without validation), `best_val_<monitor>`, and `still_improving`
        (`True` when the best epoch was the last one: more epochs could have helped; `None`
        without validation). Epochs whose value is NaN are skipped.
    """
    epochs = max((len(v) for v in history.values()), default=0) if history else 0
    values = np.asarray(history.get(f"val_{monitor}", []), dtype=np.float64)
    summary = {"epochs_trained": int(epochs), "epoch_cap": None if epoch_cap is None else int(epoch_cap),
               "best_epoch": None, f"best_val_{monitor}": None, "still_improving": None}
    if values.size == 0 or np.all(np.isnan(values)):
        return summary
    best = int(np.nanargmax(values) if monitor_mode(monitor) == "max" else np.nanargmin(values))
    summary.update({"best_epoch": best + 1, f"best_val_{monitor}": float(values[best]),
                    "still_improving": best + 1 == len(values)})
    return summary
