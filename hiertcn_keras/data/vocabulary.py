"""Id vocabularies: source ids ↔ contiguous indices, with 0 reserved.

Index 0 is padding and the start token x̂ (an exact zero vector in every model). Items are
ordered so that the *catalogue* — the items seen in training, the only ones a model can rank —
is the contiguous range `1..n_catalogue`, most frequent first (ties by id). Items that occur
only in validation or test events follow; they can be inputs but never scored targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def sorted_id_order(names):
    """Order of ids: numerically when every id is an integer, else as text.

    Args:
        names: array of str `[k]`.

    Returns:
        int array `[k]`: indices into `names` in sorted order.
    """
    names = pd.Series(names, dtype="string")
    numeric = pd.to_numeric(names, errors="coerce")
    if not numeric.isna().any():
        return np.argsort(numeric.to_numpy(dtype=np.float64), kind="stable")
    return np.argsort(names.to_numpy(dtype=object), kind="stable")


def item_order(train_counts, names):
    """Vocabulary order of items: catalogue (train count > 0) by count desc then id, then the rest.

    Args:
        train_counts: int array `[k]`. Training events per item.
        names: array of str `[k]`.

    Returns:
        `(order, n_catalogue)`: int array `[k]` listing item codes in vocabulary order (index
        `order[j]` gets vocabulary index j + 1), and the catalogue size.
    """
    by_id = sorted_id_order(names)
    id_rank = np.empty(len(names), dtype=np.int64)
    id_rank[by_id] = np.arange(len(names))
    order = np.lexsort((id_rank, -train_counts))
    return order, int((train_counts > 0).sum())


def write_vocabulary(path, names, extra=None):
    """Write a vocabulary table (`index`, `id`, and extra columns) to Parquet.

    Args:
        path: str or Path.
        names: array of str `[k]`, in index order (index j + 1 for `names[j]`).
        extra: dict of column name → array `[k]`, or `None`.
    """
    columns = {"index": np.arange(1, len(names) + 1, dtype=np.int32), "id": pa.array(names, pa.string())}
    for key, value in (extra or {}).items():
        columns[key] = value
    pq.write_table(pa.table(columns), path)


def read_vocabulary(path):
    """Read a vocabulary table written by `write_vocabulary` into a DataFrame."""
    table = pq.read_table(path).to_pandas()
    if not (table["index"].to_numpy() == np.arange(1, len(table) + 1)).all():
        raise ValueError(f"{path}: vocabulary indices are not 1..{len(table)}")
    return table
