"""The paper's tables as DataFrames: every model on the test split, the layouts beside the
paper's numbers, pairwise orderings, and HierTCN under each objective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hiertcn_keras.models.baselines import NAMES as BASELINE_NAMES
from hiertcn_keras.training.experiments.paper import LOWER_IS_BETTER, METRICS, NAMES, NEURAL, PAPER_MODELS, SIMPLE
from hiertcn_keras.training.experiments.runs import fit_baseline, train_or_load


def model_table(data_dir, out_dir, models=NEURAL + SIMPLE, *, epochs=10, seed=0, oracle_log=None, verbose=0,
                log=print, epochs_by_model=None, **overrides):
    """Train/evaluate every model on the test split: the rows of the paper's main table.

    Neural models go to `out_dir/<model>` (reused when already trained the same way, see
    `train_or_load`); simple baselines are fitted on the training events. Everything is ranked
    over the full catalogue with conservative ties, per event.

    Args:
        data_dir: str or Path. A prepared dataset.
        out_dir: str or Path. Folder of the neural run directories.
        models: sequence of model names. Defaults to all nine.
        epochs: int. Defaults to 10.
        seed: int. Defaults to 0.
        oracle_log: str or Path or `None`. A `hiertcn synth` log: adds the generator's oracle row.
        verbose: int. Keras progress while training. Defaults to 0.
        log: callable or `None`. Receives one progress line per model. Defaults to `print`.
        epochs_by_model: dict or `None`. Per-model maximum epochs replacing `epochs` (e.g.
            `{"tcn": 3}` when the flat TCN cannot get the full budget). Defaults to `None`.
        **overrides: passed to `train_or_load` (`jit_compile`, `ModelConfig` fields).

    Returns:
        list of metrics dicts (one per model, `model` key set; neural ones carry `reused`,
        `epochs_run` and `train_seconds`).
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import evaluate_baseline

    dataset = PreparedDataset(data_dir)
    results = []
    for name in models:
        if name in NEURAL:
            run = train_or_load(data_dir, name, Path(out_dir) / name, epochs=(epochs_by_model or {}).get(name, epochs),
                                seed=seed, verbose=verbose, **overrides)
            metrics = dict(run["metrics"], reused=run["reused"], epochs_run=len(run["history"].get("loss", [])),
                           train_seconds=run["record"]["train_seconds"])
            how = "reused" if run["reused"] else "trained"
            line = f"{how} {run['run_dir'].name} ({metrics['epochs_run']} epochs, {metrics['train_seconds']:.0f} s)"
        elif name in BASELINE_NAMES:
            metrics = evaluate_baseline(fit_baseline(name, dataset), dataset, "test", name=name)
            line = f"fitted {name}"
        else:
            raise ValueError(f"unknown model {name!r}; expected one of {NEURAL + BASELINE_NAMES}")
        if log:
            log(f"{line}: Recall@10 {metrics['recall@10']:.4f}, MRR {metrics['mrr']:.4f}")
        results.append(metrics)
    if oracle_log is not None:
        from hiertcn_keras.data.oracle import oracle_for_split

        oracle = oracle_for_split(oracle_log, dataset, "test")
        oracle.update(model="oracle", split="test", tie_policy="conservative", protocol=dataset.protocol)
        results.append(oracle)
    return results


def results_frame(results, metrics=METRICS):
    """`[metrics dict]` → DataFrame, one row per model (display names), one column per metric."""
    rows = {NAMES.get(r["model"], r["model"]): {label: r.get(key, np.nan) for key, label in metrics.items()}
            for r in results}
    return pd.DataFrame.from_dict(rows, orient="index")


def paper_layout(results, paper=PAPER_MODELS, metrics=METRICS, label="ours (synthetic)"):
    """The paper's layout: rows (source, metric), columns = models; ours beside the paper's.

    Args:
        results: list of metrics dicts (`model_table`).
        paper: `{dataset: {metric: {model: value}}}`. Defaults to `PAPER_MODELS`.
        metrics: `{key: label}` of the rows. Defaults to `METRICS`.
        label: str. Name of our rows. Defaults to `"ours (synthetic)"`.

    Returns:
        DataFrame with a `(source, metric)` row index; a model the paper did not report is NaN.
    """
    models = [r["model"] for r in results]
    rows = {}
    for key, name in metrics.items():
        rows[(label, name)] = {NAMES.get(m, m): r.get(key, np.nan) for m, r in zip(models, results)}
    for source, table in paper.items():
        for key, name in metrics.items():
            if key in table:
                rows[(f"paper ({source})", name)] = {NAMES.get(m, m): table[key].get(m, np.nan) for m in models}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["source", "metric"])
    return frame


def pairwise_orderings(ours, paper, metric):
    """Pairs of models ordered the same or the opposite way by us and by the paper.

    Args:
        ours: `{model: value}`.
        paper: `{model: value}`.
        metric: str. The metric key (`mrp` is lower-is-better).

    Returns:
        DataFrame, one row per pair of models both report: `better (paper)`, `better (ours)`,
        `agree` (bool). Ties in either never agree.
    """
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    common = [m for m in paper if m in ours and not np.isnan(ours[m])]
    rows = []
    for i, a in enumerate(common):
        for b in common[i + 1 :]:
            p = sign * (paper[a] - paper[b])
            o = sign * (ours[a] - ours[b])
            paper_best, ours_best = (a if p > 0 else b), (a if o > 0 else b)
            rows.append({"pair": f"{NAMES.get(a, a)} vs {NAMES.get(b, b)}",
                         "better (paper)": NAMES.get(paper_best, paper_best) if p else "tie",
                         "better (ours)": NAMES.get(ours_best, ours_best) if o else "tie",
                         "agree": bool(p * o > 0)})
    return pd.DataFrame(rows)


def objective_table(data_dir, item_embeddings, out_dir, losses=("l2", "nce", "bpr", "hinge"), *, epochs=10, seed=0,
                    verbose=0, log=print, **overrides):
    """HierTCN in the pretrained item space with each loss (the paper's objective-function table).

    Args:
        data_dir: str or Path. A prepared dataset.
        item_embeddings: str or Path. An embedding store (`hiertcn embed-items`) or a `.npy`.
        out_dir: str or Path. Runs go to `out_dir/<loss>` (reused when the same).
        losses: sequence of str. Defaults to `("l2", "nce", "bpr", "hinge")`.
        epochs, seed, verbose: as in `model_table`.
        log: callable or `None`. Defaults to `print`.
        **overrides: passed to `train_or_load` (`jit_compile`, `ModelConfig` fields such as
            `n_negatives`).

    Returns:
        list of metrics dicts whose `model` is the loss name.
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors

    dataset = PreparedDataset(data_dir)
    matrix = load_item_vectors(item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    results = []
    for loss in losses:
        run = train_or_load(data_dir, "hiertcn", Path(out_dir) / loss, epochs=epochs, seed=seed, item_matrix=matrix,
                            verbose=verbose, item_space="pretrained", loss=loss, **overrides)
        metrics = dict(run["metrics"], model=loss, reused=run["reused"],
                       epochs_run=len(run["history"].get("loss", [])), train_seconds=run["record"]["train_seconds"])
        if log:
            how = "reused" if run["reused"] else "trained"
            log(f"{how} hiertcn/{loss} ({metrics['epochs_run']} epochs): Recall@10 {metrics['recall@10']:.4f}, "
                f"MRR {metrics['mrr']:.4f}")
        results.append(metrics)
    return results
