"""The sweep that chose HierTCN's training defaults (docs/tuning.md), one dataset per call.

Trains HierTCN on a prepared dataset under a few named settings (the old defaults, larger
learning rates with the plateau schedule, dropout, tied tables, AdamW, smaller widths), each
to early stopping on validation Recall@10 (settings are chosen on validation, never on test),
and scores the "most frequent successor of the previous click" count baseline on the same
test events. Appends one JSON line per run to `--out` (so an interrupted sweep keeps what it
measured) and prints the table.

    python benchmarks/sweep_defaults.py --data runs/default/prepared --name synth-default \\
        --settings old new --out sweep.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Every setting starts from these (the defaults before the sweep) and changes what it names.
OLD = {"model": {"learning_rate": 1e-3, "dropout": 0.0, "embedding_dropout": 0.0, "tied_embeddings": False,
                 "weight_decay": 0.0},
       "train": {"lr_schedule": "constant"}}
_NEW = {"learning_rate": 3e-3, "dropout": 0.1, "embedding_dropout": 0.1, "tied_embeddings": True}
SETTINGS = {
    "old": {"epochs": 10},  # the defaults before the sweep, with their 10-epoch cap
    "new": {"model": {**_NEW, "batch_size": 8}, "train": {"lr_schedule": "plateau"}},
    "new-b32": {"model": {**_NEW, "batch_size": 32}, "train": {"lr_schedule": "plateau"}},
    "new-untied": {"model": {**_NEW, "batch_size": 8, "tied_embeddings": False}, "train": {"lr_schedule": "plateau"}},
    "new-nodrop": {"model": {**_NEW, "batch_size": 8, "dropout": 0.0, "embedding_dropout": 0.0},
                   "train": {"lr_schedule": "plateau"}},
    "new-lr1e-2": {"model": {**_NEW, "batch_size": 8, "learning_rate": 1e-2}, "train": {"lr_schedule": "plateau"}},
    "new-wd": {"model": {**_NEW, "batch_size": 8, "weight_decay": 1e-3}, "train": {"lr_schedule": "plateau"}},
}


def successor_baseline(dataset, split="test"):
    """Test metrics of "most frequent successor of the previous click" (popularity breaks ties)."""
    import numpy as np
    import scipy.sparse as sp

    from hiertcn_keras.models.simple_baselines import SimpleBaseline
    from hiertcn_keras.training.evaluate import evaluate_baseline

    class Successor(SimpleBaseline):
        def _fit(self, view, item_vectors):
            same = view.user[1:] == view.user[:-1]
            prev, nxt = view.item[:-1][same], view.item[1:][same]
            self.counts = sp.csr_matrix((np.ones(len(prev), np.float32), (prev, nxt)),
                                        shape=(self.n_items, self.n_items))[:, 1 : self.n_catalogue + 1]
            pop = np.bincount(view.item, minlength=self.n_items)[1 : self.n_catalogue + 1]
            self.prior = (1e-3 * pop / max(pop.max(), 1)).astype(np.float32)

        def _score_chunk(self, view, events):
            first = (events == 0) | (view.user[np.maximum(events - 1, 0)] != view.user[events])
            prev = np.where(first, 0, view.item[np.maximum(events - 1, 0)])
            return self.counts[prev].toarray() + self.prior

    model = Successor().fit(dataset.view("train"), dataset.n_items, dataset.n_catalogue)
    return evaluate_baseline(model, dataset, split, name="successor")


def run_setting(data, name, seed, epochs, patience):
    """Train HierTCN under one named setting; returns its summary dict."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    dataset = PreparedDataset(data)
    model_values = {**OLD["model"], **SETTINGS[name].get("model", {})}
    train_values = {**OLD["train"], **SETTINGS[name].get("train", {})}
    config = model_config_for(dataset, model="hiertcn", seed=seed, **model_values)
    epochs = min(epochs, SETTINGS[name].get("epochs", epochs))
    train_config = TrainConfig(epochs=epochs, patience=patience, seed=seed, verbose=2, **train_values)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        _, history, metrics = train(data, config, train_config, Path(tmp) / "run")
    return {"setting": name, "seed": seed, "test_recall@10": metrics["recall@10"], "test_mrr": metrics["mrr"],
            "val_recall@10": metrics["best_val_recall@10"], "best_epoch": metrics["best_epoch"],
            "epochs": metrics["epochs_trained"], "seconds": round(time.perf_counter() - started, 1),
            "n_scored": metrics["n_scored"], "coverage": metrics["coverage"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--name", required=True, help="dataset name for the table")
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=sorted(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20, help="epoch cap (default 20; `old` keeps its 10)")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = parser.parse_args(argv)
    from hiertcn_keras.data.dataset import PreparedDataset

    rows = []

    def emit(row):
        row = {"dataset": args.name, **row}
        rows.append(row)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    base = successor_baseline(PreparedDataset(args.data))
    emit({"setting": "successor (baseline)", "test_recall@10": base["recall@10"], "test_mrr": base["mrr"],
          "n_scored": base["n_scored"], "coverage": base["coverage"]})
    for name in args.settings:
        emit(run_setting(args.data, name, args.seed, args.epochs, args.patience))
    print("| dataset | setting | val R@10 | test R@10 | test MRR | best epoch / trained | s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['setting']} | {r.get('val_recall@10') or '–'} | {r['test_recall@10']:.4f} | "
              f"{r['test_mrr']:.4f} | {r.get('best_epoch', '–')} / {r.get('epochs', '–')} | "
              f"{r.get('seconds', '–')} |")


if __name__ == "__main__":
    sys.exit(main())
