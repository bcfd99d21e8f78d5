"""Refit for the test split: retrain on training + validation events for the chosen epochs.

Choosing a model (its settings, its number of epochs) needs the validation split; once chosen,
the validation events are just more training data, and the most recent ones at that (news
articles first clicked in the validation period can only be ranked by a model that saw them).
`--refit`:

1. trains (or tunes) as usual, with early stopping on validation: the *selection* run;
2. writes the *refit dataset*: the same events with the validation split merged into training,
   items re-indexed so that the catalogue is every item seen in training or validation;
3. trains the same configuration from scratch on it for exactly the selection run's best
   number of epochs, replaying that run's learning rate per epoch (no validation, no early
   stopping), and scores the test split, whose coverage (scored / all targets) goes up by the
   items first seen in validation.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np

from hiertcn_keras.artifacts import atomic
from hiertcn_keras.data import splits, vocabulary


def refit_paths(out_dir):
    """`(selection run, refit dataset)` folders that sit next to a refit run `out_dir`."""
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}.selection", out_dir.parent / f"{out_dir.name}.refit-data"


def write_refit_dataset(dataset, out_dir):
    """Write `dataset` with its validation split merged into training, items re-indexed.

    Args:
        dataset: `PreparedDataset`.
        out_dir: str or Path. The new prepared folder (written atomically).

    Returns:
        int array `[n_items]`: the new index of every old item index (0 stays 0).
    """
    from hiertcn_keras.data.prepare import PrepareConfig, PreparedData, fingerprint
    from hiertcn_keras.data.stats import compute_stats

    ev = dataset.events
    split = np.where(ev["split"] == splits.VALID, splits.TRAIN, ev["split"]).astype(np.int8)
    names = dataset.items["id"].to_numpy().astype(str)
    counts = np.bincount(ev["item"][split == splits.TRAIN], minlength=dataset.n_items)[1:]
    order, n_catalogue = vocabulary.item_order(counts, names)
    new_index = np.zeros(dataset.n_items, dtype=np.int64)
    new_index[order + 1] = np.arange(1, len(order) + 1)
    prepared = PreparedData(
        user=ev["user"].astype(np.int32), item=new_index[ev["item"]].astype(np.int32),
        timestamp=ev["timestamp"], session=ev["session"].astype(np.int32),
        position=ev["position"].astype(np.int16), split=split,
        user_ids=dataset.users["id"].to_numpy().astype(str), item_ids=names[order],
        item_train_count=counts[order], n_catalogue=n_catalogue, stats={},
        config=PrepareConfig.from_dict(dataset.config["prepare"]),
        source={**dataset.config["source"], "refit_of": str(dataset.path.resolve()),
                "refit_of_fingerprint": dataset.fingerprint},
    )
    old = dataset.stats
    prepared.stats = compute_stats(
        prepared, n_rows_read=old.get("n_rows_read", len(split)), dropped=old.get("dropped", {}),
        cuts=old.get("split_cuts"), input_time_sorted=old.get("input_time_sorted"),
        warnings=list(old.get("warnings", [])) + ["validation split merged into training (refit)"], seconds=0.0,
    )
    prepared.stats["fingerprint"] = fingerprint(prepared)
    prepared.write(out_dir)
    return new_index


class ReplayLearningRates(keras.callbacks.Callback):
    """Sets the optimizer's learning rate at the start of epoch e to `rates[e]`.

    Args:
        rates: list of float. One rate per epoch (the selection run's, as its schedule set them).
    """

    def __init__(self, rates):
        super().__init__()
        self.rates = [float(r) for r in rates]

    def on_epoch_begin(self, epoch, logs=None):
        if epoch < len(self.rates):
            self.model.optimizer.learning_rate.assign(self.rates[epoch])


def selection_summary(run_dir, monitor):
    """The chosen epochs and their learning rates from a selection run's history.

    Returns:
        `(best_epoch, rates)`: int ≥ 1 and a list of `best_epoch` floats.
    """
    from hiertcn_keras.training.convergence import convergence_summary

    run_dir = Path(run_dir)
    history = json.loads((run_dir / "history.json").read_text())
    record = json.loads((run_dir / "config.json").read_text())
    summary = convergence_summary(history, monitor, record["train"]["epochs"])
    if summary["best_epoch"] is None:
        raise ValueError(f"{run_dir}: no validation curve to choose the number of epochs from")
    best = summary["best_epoch"]
    rates = history.get("learning_rate") or [record["model"]["learning_rate"]] * best
    return best, list(rates[:best])


def refit_data_for(dataset, data_out):
    """The refit dataset of `dataset` at `data_out`: written if absent, else checked and reused.

    Returns:
        `(PreparedDataset, new_index)`: the refit dataset and the new index of every old item
        index (`[n_items]`, 0 stays 0).
    """
    from hiertcn_keras.data.dataset import PreparedDataset

    data_out = Path(data_out)
    if not (data_out / "config.json").is_file():
        write_refit_dataset(dataset, data_out)
    merged = PreparedDataset(data_out)
    if merged.config["source"].get("refit_of_fingerprint") != dataset.fingerprint:
        raise ValueError(f"{data_out} exists but is not the refit dataset of {dataset.path}; "
                         "remove it or choose another output folder")
    position = {name: i + 1 for i, name in enumerate(merged.items["id"].astype(str))}
    new_index = np.zeros(dataset.n_items, dtype=np.int64)
    new_index[1:] = [position[name] for name in dataset.items["id"].astype(str)]
    return merged, new_index


def refit(data_dir, selection_run, train_config, out_dir, *, item_matrix=None, refit_data=None):
    """Retrain a selection run's configuration on training + validation, then score the test split.

    Args:
        data_dir: str or Path. The prepared dataset the selection run was trained on.
        selection_run: str or Path. The chosen run (trained with validation).
        train_config: `TrainConfig`. Its loop settings (seed, jit, verbosity); the epochs and
            the schedule come from the selection run.
        out_dir: str or Path. The refit run directory; the refit dataset is written next to it
            (`refit_paths(out_dir)[1]`).
        item_matrix: float array `[n_items, D]` of the original dataset (pretrained space), or
            `None`.
        refit_data: str or Path. Where the refit dataset is (or is written); defaults to
            `refit_paths(out_dir)[1]`. Several runs of one comparison share one.

    Returns:
        `(model, history, metrics)` of the refit run; metrics carry `refit_epochs`.
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.training.convergence import convergence_summary
    from hiertcn_keras.training.trainer import train

    dataset = PreparedDataset(data_dir)
    record = json.loads((Path(selection_run) / "config.json").read_text())
    if record["data"]["fingerprint"] != dataset.fingerprint:
        raise ValueError(f"{selection_run} was trained on other data than {data_dir}")
    epochs, rates = selection_summary(selection_run, record["train"]["monitor"])
    data_out = Path(refit_data) if refit_data is not None else refit_paths(out_dir)[1]
    refit_data, new_index = refit_data_for(dataset, data_out)
    if item_matrix is not None:
        reordered = np.zeros_like(item_matrix)
        reordered[new_index] = item_matrix
        item_matrix = reordered
    config = ModelConfig.from_dict(record["model"]).replace(n_items=refit_data.n_items,
                                                            n_catalogue=refit_data.n_catalogue)
    loop = dataclasses.replace(train_config, epochs=epochs, validate=False, lr_schedule="constant")
    model, history, metrics = train(data_out, config, loop, out_dir, item_matrix=item_matrix,
                                    callbacks=[ReplayLearningRates(rates)])
    selected = json.loads((Path(selection_run) / "history.json").read_text())
    summary = convergence_summary(selected, record["train"]["monitor"], record["train"]["epochs"])
    # The epochs were chosen on validation by the selection run: report its curve's summary.
    metrics.update(summary, refit_epochs=epochs, selection_run=str(selection_run))
    if metrics:
        atomic.write_json(Path(out_dir) / "metrics.json", metrics)
    return model, history, metrics
