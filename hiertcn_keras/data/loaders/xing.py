"""XING job-posting interactions (RecSys Challenge 2016), the dataset of the HierTCN paper.

Source: the RecSys Challenge 2016 release by XING (`interactions.csv`; not publicly
downloadable any more). Despite its name the file is tab-separated, with this header:

    user_id	item_id	interaction_type	created_at

`created_at` is Unix seconds; `interaction_type` is 1 = click, 2 = bookmark, 3 = reply,
4 = delete. We map user = `user_id`, item = `item_id`, timestamp = `created_at`,
event_type = `interaction_type` (as text).

The loader drops nothing. Its `preset` carries the official HierTCN `data_prepare.py` setup,
which `prepare` applies unless overridden: drop type 4 (delete); keep items with ≥ 50
interactions; then users with 10–500 interactions; no de-duplication; 30-minute sessions of
at most 20 items; the `paper` protocol (users split 80/10/10).
"""

from __future__ import annotations

from pathlib import Path

from hiertcn_keras.data.loaders.generic import read_events

FILENAME = "interactions.csv"
COLUMNS = {"user": "user_id", "item": "item_id", "timestamp": "created_at",
           "event_type": "interaction_type"}


def official_preset():
    """The official HierTCN XING preprocessing, as settings for `prepare`.

    Returns:
        dict (a fresh copy on every call).
    """
    return {
        "drop_event_types": ("4",),
        "min_item_support": 50,
        "min_user_events": 10,
        "max_user_events": 500,
        "drop_duplicates": False,
        "protocol": "paper",
        "session_gap": 1800.0,
        "max_session_len": 20,
    }


def load_xing(path, *, on_bad_rows="error"):
    """Load the RecSys Challenge 2016 XING `interactions.csv`.

    Args:
        path: str or Path. The file, or a folder holding `interactions.csv`.
        on_bad_rows: str. `"error"` or `"drop"`, as in `load_generic`. Defaults to `"error"`.

    Returns:
        `LoadedLog` with `user`, `item`, `timestamp`, `row`, `event_type`, and the official
        preset in `preset`.
    """
    path = Path(path)
    file = path / FILENAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file (expected the XING {FILENAME})")
    log = read_events([file], COLUMNS, time_unit="s", sep="\t", on_bad_rows=on_bad_rows,
                      source=path, format="xing")
    log.preset = official_preset()
    return log
