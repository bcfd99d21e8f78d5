"""An item-features table (CSV or Parquet) turned into the item model's content matrix.

Shape legend: I items of the prepared dataset (index 0 = padding), C content features.

The table has one row per item: an id column (`item_id`, or Globo's `article_id`) and any
number of numeric and categorical columns — e.g. Globo's `articles_metadata.csv`:
`article_id, category_id, created_at_ts, publisher_id, words_count`. The GraphSAGE item model
reads the result as frozen content features beside the learned id vector, so an item with no
or few clicks still gets a vector from what it is (its category, its publication time).

- categorical columns (named with `categorical`, default: the columns with no number in them;
  a column mixing numbers and other text is an error, unless named categorical)
  become one-hot blocks over their `max_categories` most frequent values plus one `other`
  column; a missing value is all zeros;
- numeric columns are standardised (mean 0, standard deviation 1 over the table's rows); a
  missing value becomes the mean (0) and is counted;
- rows follow the dataset's item order; an item without a row gets zeros (counted); a row
  whose id is not in the dataset is ignored (counted) — both are in the report.

Strict: a missing file, no id column, an empty or duplicate id, a value that is not a number in
a numeric column, or an unknown column name are errors naming the file, row and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hiertcn_keras.artifacts.errors import DataError

ID_COLUMNS = ("item_id", "article_id")


def _read_table(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"item features file not found: {path}")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        sep = "\t" if path.name.endswith((".tsv", ".tsv.gz", ".tab")) else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the item features table: {error}", path=path) from None


def _as_text(column):
    """Values as stripped text, missing as '' (CSV is read as text; Parquet may hold numbers or nulls)."""
    return column.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _is_number(text):
    return pd.to_numeric(text.replace("", np.nan), errors="coerce").notna() | (text == "")


def read_item_features(path, item_ids, *, id_column=None, categorical=None, max_categories=50):
    """The content matrix of an item-features table, in a dataset's item order.

    Args:
        path: str or Path. `.csv`, `.csv.gz`, `.tsv` or `.parquet`.
        item_ids: sequence of the dataset's item ids in index order (items 1..I−1).
        id_column: str or `None`. The id column; `None` = the first of `item_id`, `article_id`.
        categorical: sequence of str or `None`. The categorical columns; `None` = every column
            (besides the id) whose values are not all numbers.
        max_categories: int ≥ 1. One-hot columns per categorical column (the most frequent
            values), besides `other`. Defaults to 50.

    Returns:
        `(matrix float32 [I, C], report dict)`; row 0 is zero. The report names the columns
        and features, and counts `n_rows`, `n_matched`, `n_unknown_items` (rows whose id is not
        in the dataset), `n_items_without_features` and the missing values per column.

    Raises:
        DataError: as in the module docstring. FileNotFoundError: no such file.
    """
    path = Path(path)
    table = _read_table(path)
    if id_column is None:
        id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
        if id_column is None:
            raise DataError(f"no item id column ({' or '.join(ID_COLUMNS)}; columns: {list(table.columns)})",
                            path=path)
    elif id_column not in table.columns:
        raise DataError(f"no column {id_column!r} (columns: {list(table.columns)})", path=path)
    ids = _as_text(table[id_column])
    if (ids == "").any():
        raise DataError("empty item id", path=path, row=int(np.flatnonzero((ids == "").to_numpy())[0]) + 1,
                        column=id_column)
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0]) + 1
        raise DataError(f"duplicate item id {ids.iloc[row]!r} (first at row {first})", path=path, row=row + 1,
                        column=id_column)
    columns = [c for c in table.columns if c != id_column]
    if not columns:
        raise DataError(f"no feature column besides {id_column!r}", path=path)
    text = {c: _as_text(table[c]) for c in columns}
    if categorical is None:  # no value a number: categorical; some numbers, some not: an error below
        categorical = [c for c in columns if not (_is_number(text[c]) & (text[c] != "")).any()
                       and (text[c] != "").any()]
    else:
        unknown = [c for c in categorical if c not in columns]
        if unknown:
            raise DataError(f"no categorical column {unknown} (columns: {columns})", path=path)
    categorical = list(categorical)
    numeric = [c for c in columns if c not in categorical]

    blocks, names, missing = [], [], {}
    for column in numeric:
        values = text[column]
        numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce")
        bad = numbers.isna() & (values != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"not a number: {values.iloc[row]!r} (name it with --item-features-categorical if it "
                            "is a category)", path=path, row=row + 1, column=column)
        x = numbers.to_numpy(dtype=np.float64)
        if not np.isfinite(x[~np.isnan(x)]).all():
            row = int(np.flatnonzero(np.isinf(x))[0])
            raise DataError(f"not a finite number: {values.iloc[row]!r}", path=path, row=row + 1, column=column)
        missing[column] = int(np.isnan(x).sum())
        mean = float(np.nanmean(x)) if missing[column] < len(x) else 0.0
        std = float(np.nanstd(x)) if missing[column] < len(x) else 0.0
        z = np.where(np.isnan(x), 0.0, (x - mean) / std if std > 0 else 0.0)
        blocks.append(z[:, None])
        names.append(column)
    for column in categorical:
        values = text[column]
        missing[column] = int((values == "").sum())
        present = values[values != ""]
        top = present.value_counts(sort=True).index[: int(max_categories)].tolist()
        codes = pd.Index(top).get_indexer(values)
        block = np.zeros((len(values), len(top) + 1))
        rows = np.flatnonzero(codes >= 0)
        block[rows, codes[rows]] = 1.0
        block[(codes < 0) & (values != "").to_numpy(), len(top)] = 1.0  # rarer values: `other`
        blocks.append(block)
        names += [f"{column}={v}" for v in top] + [f"{column}=other"]

    features = np.concatenate(blocks, axis=1).astype(np.float32)
    vocabulary = pd.Index([str(i) for i in item_ids])
    position = vocabulary.get_indexer(ids)
    matched = position >= 0
    matrix = np.zeros((len(item_ids) + 1, features.shape[1]), np.float32)
    matrix[position[matched] + 1] = features[matched]
    has_row = np.zeros(len(item_ids), bool)
    has_row[position[matched]] = True
    report = {"path": str(path), "id_column": id_column, "numeric": numeric, "categorical": categorical,
              "n_features": int(features.shape[1]), "features": names, "n_rows": int(len(table)),
              "n_matched": int(matched.sum()), "n_unknown_items": int((~matched).sum()),
              "unknown_examples": ids[~matched].head(5).tolist(),
              "n_items_without_features": int((~has_row).sum()), "missing_values": missing}
    return matrix, report


def describe(report):
    """One line for the CLI: what the table gave and what was counted."""
    missing = {k: v for k, v in report["missing_values"].items() if v}
    return (f"item features {report['path']}: {len(report['numeric'])} numeric and {len(report['categorical'])} "
            f"categorical columns -> {report['n_features']} features for {report['n_matched']:,} items; "
            f"{report['n_items_without_features']:,} dataset items have no row (zero features); "
            f"{report['n_unknown_items']:,} rows of items not in the dataset ignored"
            + (f" (e.g. {report['unknown_examples']})" if report["n_unknown_items"] else "")
            + (f"; missing values filled: {missing}" if missing else ""))
