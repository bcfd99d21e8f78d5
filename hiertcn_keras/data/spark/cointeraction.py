"""Read the co-interaction edge counts the Spark `prepare` writes (`--graph-window`).

`DIR/cointeraction/` holds Parquet parts with one row per ordered item pair: `src`, `dst`
(vocabulary indices) and `weight` (the number of co-occurring event pairs, both directions
present), summed over all users' training events; `DIR/cointeraction.json` records the window.
The counts are those of `graph.cooccurrence_counts(data.view("train"), n_items, window)`:
buckets hold whole users and no pair spans two users, so per-bucket counts add up exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from hiertcn_keras.artifacts.errors import DataError


def read_cointeraction(path):
    """The item co-interaction graph of a prepared folder written with `--graph-window`.

    Args:
        path: str or Path. The prepared folder.

    Returns:
        `scipy.sparse.csr_matrix` float32 `[I, I]`, as `graph.cointeraction_graph` returns for
        the training view with the recorded window (symmetric, zero diagonal, canonical).
    """
    path = Path(path)
    meta_file = path / "cointeraction.json"
    if not meta_file.is_file():
        raise DataError("no cointeraction.json; prepare with --engine spark --graph-window W", path=path)
    meta = json.loads(meta_file.read_text())
    table = pq.read_table(path / "cointeraction")
    n = int(meta["n_items"])
    graph = sp.csr_matrix(
        (table.column("weight").to_numpy().astype(np.float32),
         (table.column("src").to_numpy(), table.column("dst").to_numpy())),
        shape=(n, n),
    )
    graph.eliminate_zeros()
    graph.sort_indices()
    return graph
