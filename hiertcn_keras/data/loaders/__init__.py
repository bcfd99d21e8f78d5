"""Raw-log loaders: each turns one source format into a canonical `LoadedLog`.

| format        | source                                                   | loader           |
|---------------|----------------------------------------------------------|------------------|
| `generic`     | your own CSV/TSV/text/Parquet log, or a folder of them   | `load_generic`   |
| `globo`       | Globo.com news-portal clicks (Kaggle), hourly CSV files  | `load_globo`     |
| `xing`        | RecSys Challenge 2016 XING `interactions.csv`            | `load_xing`      |
| `movielens`   | MovieLens `u.data`, `ratings.dat` or `ratings.csv`       | `load_movielens` |

Example:

>>> log = load("ml-100k/", format="movielens")          # doctest: +SKIP
>>> log.events.columns.tolist()                          # doctest: +SKIP
['user', 'item', 'timestamp', 'row', 'event_type']
"""

from __future__ import annotations

import inspect

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders.base import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, LoadedLog
from hiertcn_keras.data.loaders.generic import load_generic
from hiertcn_keras.data.loaders.globo import load_globo
from hiertcn_keras.data.loaders.movielens import load_movielens
from hiertcn_keras.data.loaders.xing import load_xing

FORMATS = ("generic", "globo", "xing", "movielens")
_LOADERS = {"generic": load_generic, "globo": load_globo, "xing": load_xing,
            "movielens": load_movielens}


def load(path, format="generic", **options):
    """Load a raw log with the loader of the named format.

    Args:
        path: str or Path. The file or folder to read.
        format: str. One of `FORMATS`. Defaults to `"generic"`.
        **options: keyword options of that format's loader (e.g. `user_col=` for `generic`,
            `on_bad_rows=` for all).

    Returns:
        `LoadedLog`.
    """
    if format not in _LOADERS:
        raise ValueError(f"unknown format {format!r}; valid formats: {', '.join(FORMATS)}")
    loader = _LOADERS[format]
    accepted = [name for name in inspect.signature(loader).parameters if name != "path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"format {format!r} takes no option {', '.join(unknown)}; "
                         f"it takes: {', '.join(accepted)}")
    return loader(path, **options)


__all__ = [
    "CANONICAL_COLUMNS",
    "DataError",
    "FORMATS",
    "LoadedLog",
    "OPTIONAL_COLUMNS",
    "load",
    "load_generic",
    "load_globo",
    "load_movielens",
    "load_xing",
]
