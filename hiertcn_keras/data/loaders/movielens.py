"""MovieLens ratings (GroupLens, https://grouplens.org/datasets/movielens/).

Three file layouts are read, from the file itself or from a folder holding one of them:

| file          | release                 | layout                                             |
|---------------|-------------------------|----------------------------------------------------|
| `u.data`      | ml-100k                 | tab-separated, no header: user item rating time    |
| `ratings.dat` | ml-1m, ml-10m           | `UserID::MovieID::Rating::Timestamp`, no header    |
| `ratings.csv` | ml-20m, ml-25m, latest  | header `userId,movieId,rating,timestamp`           |

Timestamps are Unix seconds. We map user, item = movie, timestamp, and event_type = the rating
as written (`"4"`, `"3.5"`).

`ratings.dat` separates fields with `::`. The Arrow reader takes one-character separators
only, so we split on `:` and keep every other field: the fields are all numbers, so no field
holds a colon.

Ratings are weak session data: users often rate many films in one sitting (including films
seen years ago), and the timestamp is when the rating was entered, not when the film was
watched. The loader says so in `warnings`.
"""

from __future__ import annotations

from pathlib import Path

from hiertcn_keras.data.loaders.generic import read_events

FILENAMES = ("u.data", "ratings.dat", "ratings.csv")
WARNING = (
    "MovieLens holds ratings, which are weak session data: ratings are often entered in bulk, "
    "and a timestamp is when the rating was given, not when the film was watched"
)
LAYOUTS = {
    "u.data": dict(sep="\t", names=("user_id", "item_id", "rating", "timestamp"),
                   columns={"user": "user_id", "item": "item_id", "timestamp": "timestamp",
                            "event_type": "rating"}),
    "ratings.dat": dict(sep=":", names=("user", "_1", "item", "_2", "rating", "_3", "timestamp"),
                        columns={"user": "user", "item": "item", "timestamp": "timestamp",
                                 "event_type": "rating"}),
    "ratings.csv": dict(sep=",", names=None,
                        columns={"user": "userId", "item": "movieId", "timestamp": "timestamp",
                                 "event_type": "rating"}),
}


def load_movielens(path, *, on_bad_rows="error"):
    """Load MovieLens ratings from `u.data`, `ratings.dat` or `ratings.csv`.

    Args:
        path: str or Path. One of those files (the layout is chosen by name, else by suffix:
            `.data`/`.base`/`.test`, `.dat`, `.csv`), or a folder holding one (e.g.
            `ml-100k/`); when a folder holds several, the first in that order is read.
        on_bad_rows: str. `"error"` or `"drop"`, as in `load_generic`. Defaults to `"error"`.

    Returns:
        `LoadedLog` with `user`, `item`, `timestamp`, `row`, `event_type` (the rating), and a
        warning that ratings are weak session data.
    """
    path = Path(path)
    file = find_ratings(path)
    layout = LAYOUTS[layout_of(file)]
    log = read_events([file], layout["columns"], time_unit="s", sep=layout["sep"],
                      names=layout["names"], on_bad_rows=on_bad_rows, source=path,
                      format="movielens")
    log.warnings.append(WARNING)
    return log


def find_ratings(path):
    """The ratings file of a MovieLens folder (or the file itself)."""
    if path.is_dir():
        for name in FILENAMES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path}: holds none of {', '.join(FILENAMES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    layout_of(path)
    return path


def layout_of(file):
    """The key of `LAYOUTS` that describes `file`."""
    # The split files of ml-100k (`u1.base`, `ua.test`, ...) share the layout of `u.data`.
    if file.name in LAYOUTS:
        return file.name
    by_suffix = {".data": "u.data", ".base": "u.data", ".test": "u.data",
                 ".dat": "ratings.dat", ".csv": "ratings.csv"}
    if file.suffix.lower() in by_suffix:
        return by_suffix[file.suffix.lower()]
    raise ValueError(f"{file}: not a MovieLens ratings file; expected one of "
                     f"{', '.join(FILENAMES)} (or a file ending .data, .base, .test, .dat, .csv)")
