"""Reading a raw log on Spark: one task per source file, with the pandas loaders' own parser.

The pandas loaders read every file with `pyarrow.csv` / `pyarrow.parquet` and find bad rows
with vectorised masks (`loaders/generic.py`). Spark's CSV reader parses differently (quoting,
missing values, `::` separators, ISO times), so instead of imitating the loaders we *run* them:
`plan_source` resolves the files and options exactly as each loader does, and `read_file` runs
the generic engine's per-file steps (`read_file`, `check_rows`, `count_reasons`) inside a
Spark task. Each task writes its file's canonical events to one staging Parquet file and
returns a small summary (rows read, drops by reason, the first error, whether its times are
sorted). Parallelism is one task per input file: split a big log into many files (logs
usually are: Globo's are hourly).

The source order `row` is `file index × 2**40 + data row in the file`: the same order as the
pandas loader's global row number, so ties between equal timestamps break identically.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.artifacts.atomic import atomic_write
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders import generic, globo, movielens, xing

ROW_BITS = 40  # rows per file < 2**40; files < 2**23
_LOADERS = {"generic": generic.load_generic, "globo": globo.load_globo, "xing": xing.load_xing,
            "movielens": movielens.load_movielens}


@dataclasses.dataclass(frozen=True)
class SourcePlan:
    """What to read, resolved as the pandas loader of `format` resolves it.

    Attributes:
        files: tuple of str. Read in this order (it defines `row`).
        columns: dict. Canonical role → column name in the files.
        time_unit, sep, names, on_bad_rows: as in `generic.read_events`.
        source: str. What the prepared `config.json` reports as the source path.
        format: str.
        warnings: tuple of str. The loader's warnings (e.g. MovieLens ratings).
        preset: dict. The format's `prepare` settings (e.g. XING's official filters).
    """

    files: tuple
    columns: dict
    time_unit: str
    sep: str | None
    names: tuple | None
    on_bad_rows: str
    source: str
    format: str
    warnings: tuple = ()
    preset: dict = dataclasses.field(default_factory=dict)


def plan_source(path, format="generic", **options):
    """Resolve a log's files and reading options without reading any data.

    Args:
        path: str or Path. The file or folder, as for `hiertcn_keras.data.loaders.load`.
        format: str. `"generic"`, `"globo"`, `"xing"` or `"movielens"`. Defaults to `"generic"`.
        **options: the options of that format's loader (`user_col=`, `on_bad_rows=`, ...).

    Returns:
        `SourcePlan`.
    """
    if format not in _LOADERS:
        raise ValueError(f"unknown format {format!r}; valid formats: {', '.join(_LOADERS)}")
    accepted = [n for n in inspect.signature(_LOADERS[format]).parameters if n != "path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"format {format!r} takes no option {', '.join(unknown)}; "
                         f"it takes: {', '.join(accepted)}")
    path = Path(path)
    on_bad_rows = options.get("on_bad_rows", "error")
    if format == "generic":
        defaults = {k: p.default for k, p in inspect.signature(generic.load_generic).parameters.items()
                    if k != "path"}
        o = {**defaults, **options}
        for option in ("user_col", "item_col", "time_col"):
            if not isinstance(o[option], str) or not o[option]:
                raise ValueError(f"{option} must be a column name, got {o[option]!r}")
        generic.check_options(o["time_unit"], o["sep"], o["on_bad_rows"])
        columns = {"user": o["user_col"], "item": o["item_col"], "timestamp": o["time_col"],
                   "session": o["session_col"], "event_type": o["event_col"]}
        columns = {role: name for role, name in columns.items() if name is not None}
        return SourcePlan(tuple(map(str, generic.list_files(path))), columns, o["time_unit"], o["sep"],
                          None, o["on_bad_rows"], str(path), format)
    generic.check_options("s", None, on_bad_rows)
    if format == "globo":
        return SourcePlan(tuple(map(str, globo.hour_files(path))), dict(globo.COLUMNS), "ms", ",",
                          None, on_bad_rows, str(path), format)
    if format == "xing":
        file = path / xing.FILENAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file (expected the XING {xing.FILENAME})")
        return SourcePlan((str(file),), dict(xing.COLUMNS), "s", "\t", None, on_bad_rows, str(path),
                          format, preset=xing.official_preset())
    file = movielens.find_ratings(path)
    layout = movielens.LAYOUTS[movielens.layout_of(file)]
    return SourcePlan((str(file),), dict(layout["columns"]), "s", layout["sep"], layout["names"],
                      on_bad_rows, str(path), format, warnings=(movielens.WARNING,))


def staging_schema(plan):
    """Arrow schema of the canonical events a task writes for `plan`."""
    fields = [("user", pa.string()), ("item", pa.string()), ("timestamp", pa.float64()),
              ("row", pa.int64())]
    fields += [(role, pa.string()) for role in ("session", "event_type") if role in plan.columns]
    return pa.schema(fields)


def read_file(index, plan, staging_dir):
    """Read source file `index` of `plan` into `staging_dir/part-<index>.parquet` (a Spark task).

    Args:
        index: int. Position of the file in `plan.files`.
        plan: `SourcePlan`.
        staging_dir: str. A folder every executor can write to.

    Returns:
        dict: `index`, `n_rows` (data rows read), `n_kept`, `dropped` (reason → rows, in the
        loader's order), `error` (`None` or the `DataError` fields of the file's first problem),
        `sorted` (times non-decreasing in row order), `first_t` and `last_t` (kept rows), `empty`
        (the file's name when it holds no data rows and is skipped, else `None`).
    """
    file = Path(plan.files[index])
    summary = {"index": index, "n_rows": 0, "n_kept": 0, "dropped": {}, "error": None,
               "sorted": True, "first_t": None, "last_t": None, "empty": None}
    try:
        try:
            arrays = generic.read_file(file, plan.columns, sep=plan.sep, names=plan.names)
        except generic.EmptyFileError:
            if len(plan.files) == 1:
                raise
            summary["empty"] = str(file)  # skipped and reported, as the pandas engine does
            return summary
        n = len(arrays["user"])
        if n >= 2**ROW_BITS:
            raise DataError(f"more than 2**{ROW_BITS} rows in one file; split it", path=file)
        seconds, bad = generic.check_rows(file, arrays, plan.columns, plan.time_unit, "drop")
        any_bad = np.any(list(bad.values()), axis=0)
        if plan.on_bad_rows == "error" and any_bad.any():
            generic.check_rows(file, arrays, plan.columns, plan.time_unit, "error")  # raises
    except DataError as error:
        summary["error"] = {"message": error.message, "path": error.path, "row": error.row,
                            "column": error.column}
        return summary
    kept = np.flatnonzero(~any_bad)
    summary.update(n_rows=n, n_kept=int(len(kept)), dropped=generic.count_reasons(bad))
    if len(kept):
        t = seconds[kept]
        summary.update(sorted=bool((np.diff(t) >= 0).all()), first_t=float(t[0]), last_t=float(t[-1]))
        columns = {
            "user": arrays["user"].take(pa.array(kept)),
            "item": arrays["item"].take(pa.array(kept)),
            "timestamp": pa.array(t, pa.float64()),
            "row": pa.array((index << ROW_BITS) + kept.astype(np.int64), pa.int64()),
        }
        for role in ("session", "event_type"):
            if role in plan.columns:
                columns[role] = arrays[role].take(pa.array(kept))
        table = pa.table(columns).cast(staging_schema(plan))
        target = Path(staging_dir) / f"part-{index:07d}.parquet"
        atomic_write(target, lambda tmp: pq.write_table(table, tmp))  # a retried task replaces its file whole
    return summary


def combine(summaries):
    """Merge per-file summaries in file order, raising the first file's error like the loaders.

    Returns:
        dict: `n_rows`, `n_kept`, `dropped` (keys in the order the pandas loader adds them),
        `input_time_sorted` (times non-decreasing over all kept rows in source order),
        `empty_files` (files without data rows, skipped).
    """
    summaries = sorted(summaries, key=lambda s: s["index"])
    for s in summaries:
        if s["error"] is not None:
            e = s["error"]
            raise DataError(e["message"], path=e["path"], row=e["row"], column=e["column"])
    dropped, last, in_order = {}, None, True
    for s in summaries:
        for reason, count in s["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + count
        if s["n_kept"]:
            in_order &= s["sorted"] and (last is None or s["first_t"] >= last)
            last = s["last_t"]
    n_kept = sum(s["n_kept"] for s in summaries)
    empty = [s["empty"] for s in summaries if s.get("empty")]
    if summaries and len(empty) == len(summaries):
        raise DataError(f"none of the {len(summaries)} files holds a data row", path=str(Path(empty[0]).parent))
    return {"n_rows": sum(s["n_rows"] for s in summaries), "n_kept": n_kept, "dropped": dropped,
            "input_time_sorted": bool(in_order or n_kept < 2), "empty_files": empty}
