"""The contract every loader fulfils: a canonical event table plus an account of what was read.

A loader turns one raw log format into `LoadedLog.events`, a `pandas.DataFrame` with one row per
interaction and these columns:

| column       | dtype    | meaning                                                        |
|--------------|----------|----------------------------------------------------------------|
| `user`       | string   | the user id as written in the source (ids are kept as text)    |
| `item`       | string   | the item id as written in the source                           |
| `timestamp`  | float64  | Unix time in seconds (sub-second precision kept)               |
| `row`        | int64    | global source order: 0, 1, 2, ... over all files read, in the  |
|              |          | order they were read; used as the tie-break for equal times    |
| `session`    | string   | optional: a session id given by the source                     |
| `event_type` | string   | optional: an interaction type given by the source              |

Events are conserved: `n_rows == len(events) + sum(dropped.values())`. A loader never drops a
row silently: it either raises `DataError` naming file, row and column, or (only where the user
asked for it, or where a named preset documents it) removes the row and counts it in `dropped`
under a reason.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

CANONICAL_COLUMNS = ("user", "item", "timestamp", "row")
OPTIONAL_COLUMNS = ("session", "event_type")


@dataclasses.dataclass
class LoadedLog:
    """A raw log in canonical form.

    Args:
        events: `pandas.DataFrame` with the canonical columns (see module docstring).
        source: str. The file or folder read.
        format: str. The loader's name (`"generic"`, `"globo"`, `"xing"`, `"movielens"`).
        n_rows: int. Data rows read from the source(s), header lines excluded.
        dropped: dict. Reason → number of rows the loader removed.
        warnings: list of str. Things the user should know (e.g. rating data as sessions).
        preset: dict. Settings the format implies for `prepare` (e.g. XING's official filters);
            `prepare` applies them unless the user overrides them.
        empty_files: list of str. Files of a folder that held no data rows (a header only, or
            nothing) and were skipped.
    """

    events: pd.DataFrame
    source: str
    format: str
    n_rows: int
    dropped: dict = dataclasses.field(default_factory=dict)
    warnings: list = dataclasses.field(default_factory=list)
    preset: dict = dataclasses.field(default_factory=dict)
    empty_files: list = dataclasses.field(default_factory=list)

    def check_conservation(self):
        """Raise `AssertionError` unless every row read is either kept or counted as dropped."""
        kept = len(self.events)
        lost = sum(self.dropped.values())
        if kept + lost != self.n_rows:
            raise AssertionError(
                f"{self.source}: {self.n_rows} rows read but {kept} kept + {lost} dropped"
            )
