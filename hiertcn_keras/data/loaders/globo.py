"""Globo.com news-portal clicks (Kaggle "News Portal User Interactions by Globo.com").

Source: Moreira et al., "News Session-Based Recommendations using Deep Neural Networks"
(DLRS 2018); published on Kaggle as `gspmoreira/news-portal-user-interactions-by-globocom`.
The download holds `clicks.zip` with hourly files `clicks/clicks_hour_000.csv`,
`clicks_hour_001.csv`, ... (385 hours, about 3M clicks), comma-separated, with this header:

    user_id,session_id,session_start,session_size,click_article_id,click_timestamp,
    click_environment,click_deviceGroup,click_os,click_country,click_region,click_referrer_type

`click_timestamp` and `session_start` are Unix milliseconds. We map user = `user_id`,
item = `click_article_id`, timestamp = `click_timestamp` / 1000, session = `session_id`
(the portal's own sessions). Files are read in numeric hour order; `row` numbers the clicks
across all of them. Reading is done by the generic engine (`generic.read_events`).
"""

from __future__ import annotations

import re
from pathlib import Path

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders.generic import read_events

COLUMNS = {"user": "user_id", "item": "click_article_id", "timestamp": "click_timestamp",
           "session": "session_id"}
HOUR_FILE = re.compile(r"clicks_hour_(\d+)\.csv(\.gz)?$")
PATTERN = "clicks_hour_*.csv (or clicks/clicks_hour_*.csv)"


def load_globo(path, *, on_bad_rows="error"):
    """Load Globo.com news clicks from one CSV or a folder of hourly click files.

    Args:
        path: str or Path. A clicks CSV, or a folder holding `clicks_hour_*.csv` (directly or
            in a `clicks/` subfolder).
        on_bad_rows: str. `"error"` or `"drop"`, as in `load_generic`. Defaults to `"error"`.

    Returns:
        `LoadedLog` with `user`, `item`, `timestamp` (seconds), `row` and `session`.
    """
    path = Path(path)
    files = hour_files(path)
    return read_events(files, COLUMNS, time_unit="ms", sep=",", on_bad_rows=on_bad_rows,
                       source=path, format="globo")


def hour_files(path):
    """The click files under `path`, in numeric hour order.

    Args:
        path: str or Path. A file (returned alone) or a folder.

    Returns:
        list of Path.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    for folder in (path, path / "clicks"):
        if not folder.is_dir():
            continue
        hours = [(int(m.group(1)), p) for p in folder.iterdir()
                 if p.is_file() and (m := HOUR_FILE.fullmatch(p.name))]
        if hours:
            return [p for _, p in sorted(hours)]
    raise DataError(f"no click files matching {PATTERN} in this folder", path=path)
