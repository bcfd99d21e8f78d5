"""`hiertcn prepare --format globo` on a folder shaped like the whole public release.

The Kaggle release (`clicks.zip`) is 385 hourly files `clicks/clicks_hour_000.csv` ..
`clicks_hour_384.csv` with one header. Its quirks, as seen in its raw files: an hour with a
header and no rows (`clicks_hour_100.csv`); files are keyed by the hour a *session started*,
so a file holds clicks many hours later than its name, and a later file can hold clicks older
than an earlier file's (the log is not in time order across files); the portal's sessions can
run for hours; click timestamps are Unix milliseconds and clicks inside a session are often
spaced exactly 30 s apart. The release itself cannot ship with the tests, so this writes 385
tiny files with all of that and prepares them.
"""

import json

import numpy as np
import pandas as pd

from hiertcn_keras import cli

HEADER = ("user_id,session_id,session_start,session_size,click_article_id,click_timestamp,click_environment,"
          "click_deviceGroup,click_os,click_country,click_region,click_referrer_type\n")
FIRST_HOUR_MS = 1_506_826_800_000  # 2017-10-01T03:00Z, the release's first hour
N_FILES = 385
EMPTY_HOUR = 100


def write_release(root, seed=0):
    """385 hourly files under `root/clicks/`; returns the number of data rows written."""
    rng = np.random.default_rng(seed)
    folder = root / "clicks"
    folder.mkdir(parents=True)
    rows = 0
    session_serial = 0
    for hour in range(N_FILES):
        lines = [HEADER]
        if hour != EMPTY_HOUR:
            for _ in range(int(rng.integers(1, 4))):  # a few sessions started this hour
                session_serial += 1
                user = int(rng.integers(0, 60))
                start = FIRST_HOUR_MS + hour * 3_600_000 + int(rng.integers(0, 3_600_000))
                size = int(rng.integers(2, 5))
                # The first click comes up to 12 h after the session's start (the release's
                # sessions run long), the next ones 30 s apart or after a long pause.
                t = start + int(rng.integers(0, 12 * 3_600_000))
                for _ in range(size):
                    article = int(rng.integers(1, 400))
                    lines.append(f"{user},{start * 1000 + session_serial},{start // 1000 * 1000},{size},{article},"
                                 f"{t},4,1,17,1,16,1\n")
                    t += 30_000 if rng.random() < 0.6 else int(rng.integers(31_000, 4 * 3_600_000))
                    rows += 1
        (folder / f"clicks_hour_{hour:03d}.csv").write_text("".join(lines))
    return rows


def test_a_release_of_385_hourly_files_prepares_as_it_is(tmp_path, capsys):
    rows = write_release(tmp_path / "release")
    code = cli.main(["prepare", "--input", str(tmp_path / "release"), "--format", "globo", "--out",
                     str(tmp_path / "prepared")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 files without data rows skipped" in captured.out and "clicks_hour_100.csv" in captured.err

    stats = json.loads((tmp_path / "prepared" / "stats.json").read_text())
    assert [p.rsplit("/", 1)[-1] for p in stats["empty_files"]] == ["clicks_hour_100.csv"]
    assert stats["n_rows_read"] == rows
    assert stats["n_events"] + sum(stats["dropped"].values()) == rows  # every row kept or counted
    assert stats["n_events"] > 0.9 * rows
    assert stats["input_time_sorted"] is False  # the files are keyed by session start, not click time
    events = pd.read_parquet(tmp_path / "prepared" / "events.parquet")
    assert len(events) == stats["n_events"]
    by_user = events.groupby("user")["timestamp"]
    assert by_user.apply(lambda t: bool((np.diff(t.to_numpy()) >= 0).all())).all()  # each history in time order
