"""Intrinsic quality of item vectors (the DGL PinSage example's protocol), side by side.

On a prepared dataset (the default synthetic one unless `--data` names another), rank every
test-split next item among the catalogue by inner product with the previous item's vector
(`hiertcn_keras.training.item_quality`), for: raw co-occurrence vectors (PPMI + SVD), the
GraphSAGE item model with id features under its default objective, PinSage's max-margin and
the talk's NCE, the default with the co-occurrence vectors as content features, and random
vectors.

    python benchmarks/bench_item_quality.py
    python benchmarks/bench_item_quality.py --data runs/default/prepared --epochs 5 --dim 64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from bench_training import default_dataset  # noqa: E402
from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.models.item_vectors import cooccurrence_vectors  # noqa: E402
from hiertcn_keras.training.item_quality import next_item_quality  # noqa: E402
from hiertcn_keras.training.item_training import ItemModelConfig, embed_items  # noqa: E402


def _describe(config):
    if config.loss == "max_margin":
        return f"max-margin Δ {config.margin}"
    hard = f", {config.hard_negatives} hard negatives" if config.hard_negatives else ""
    return f"{config.loss} τ {config.temperature}{hard}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared dataset (default: synthesize the default one)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true", help="only the default GraphSAGE variant")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data or default_dataset(tmp)
        data = PreparedDataset(data_dir)
        view = data.view(args.split)
        started = time.perf_counter()
        cooc = cooccurrence_vectors(data.view("train"), data.n_items, dim=args.dim)
        rows.append(("co-occurrence (PPMI + SVD)", cooc, time.perf_counter() - started))
        default = ItemModelConfig(dim=args.dim, epochs=args.epochs)
        variants = [
            (f"GraphSAGE, {_describe(default)} (default)", default, None),
            ("GraphSAGE, max-margin Δ 0.1 (PinSage)", dataclasses.replace(default, loss="max_margin"), None),
            ("GraphSAGE, NCE τ 1 (the talk)", dataclasses.replace(default, loss="nce", temperature=1.0), None),
            (f"GraphSAGE, {_describe(default)}, id + co-occurrence", default, cooc),
        ]
        if args.quick:
            variants = variants[:1]
        for name, config, content in variants:
            started = time.perf_counter()
            matrix, _ = embed_items(data_dir, os.path.join(tmp, "store"), config, content=content, verbose=0)
            rows.append((name, matrix, time.perf_counter() - started))
        rng = np.random.default_rng(0)
        random = rng.normal(size=cooc.shape).astype(np.float32)
        random[0] = 0
        rows.append(("random", random, 0.0))
        results = []
        for name, vectors, seconds in rows:
            q = next_item_quality(vectors, view, data.n_catalogue)
            results.append({"vectors": name, "seconds": round(seconds, 1), **q})
    print(f"next-item retrieval by nearest neighbour of the previous item, {args.split} split, "
          f"{results[0]['n_events']:,} pairs, {data.n_catalogue:,} candidates, dim {args.dim}")
    print(f"{'item vectors':<52} {'hit@1':>7} {'hit@10':>7} {'hit@20':>7} {'MRR':>7} {'seconds':>8}")
    for r in results:
        print(f"{r['vectors']:<52} {r['recall@1']:>7.3f} {r['recall@10']:>7.3f} {r['recall@20']:>7.3f} "
              f"{r['mrr']:>7.3f} {r['seconds']:>8.1f}")
    print(json.dumps({"bench": "item_quality", "results": results}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
