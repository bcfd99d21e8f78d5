"""A prepared dataset checks its files on load (`hiertcn_keras.artifacts.integrity`).

Issue 13, case 4: flipped bits in `events.parquet` loaded silently in 20 of 40 trials although
the fingerprint was stored. Case 5: a corrupt `items.parquet` crashed with a traceback, and data
prepared with `--max-session-len 1000000` made training allocate a million steps per session.
"""

import json

import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.prepare import PrepareConfig, prepare

# 5 users × 3 sessions of 4 clicks (60 s apart; sessions 2 h apart).
ROWS = [(f"u{u}", f"i{(u * 12 + s * 4 + p) * 7 % 11}", 1_600_000_000 + 7200 * s + 60 * p)
        for u in range(5) for s in range(3) for p in range(4)]


@pytest.fixture
def prepared_dir(tmp_path, log_factory):
    path = tmp_path / "prepared"
    prepare(log_factory(ROWS), PrepareConfig(max_session_len=1_000_000)).write(path)
    return path


def flip(path, trials, seed):
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        k = int(rng.integers(len(data)))
        data[k] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))


def test_every_file_is_recorded_with_size_and_hash(prepared_dir):
    files = json.loads((prepared_dir / "config.json").read_text())["files"]
    assert sorted(files) == ["events.parquet", "items.parquet", "stats.json", "users.parquet"]
    assert files["events.parquet"]["size"] == (prepared_dir / "events.parquet").stat().st_size
    assert PreparedDataset(prepared_dir).verified == "files"


@pytest.mark.parametrize("seed", range(10))
def test_a_flipped_bit_anywhere_in_events_is_refused_naming_the_file(prepared_dir, seed):
    flip(prepared_dir / "events.parquet", 1, seed)
    with pytest.raises(DataError, match=r"events\.parquet: file is damaged: its sha256"):
        PreparedDataset(prepared_dir)


@pytest.mark.parametrize("name", ["items.parquet", "users.parquet", "stats.json"])
def test_a_truncated_or_missing_file_is_named(prepared_dir, name):
    path = prepared_dir / name
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match=rf"{name}: file is damaged: \d+ bytes"):
        PreparedDataset(prepared_dir)
    path.unlink()
    with pytest.raises(DataError, match=rf"{name}"):
        PreparedDataset(prepared_dir)


def legacy(prepared_dir):
    """The folder as the previous release wrote it: no per-file record."""
    config = json.loads((prepared_dir / "config.json").read_text())
    del config["files"]
    (prepared_dir / "config.json").write_text(json.dumps(config))
    return prepared_dir


def test_a_folder_of_the_previous_release_is_checked_against_its_fingerprint(prepared_dir):
    assert PreparedDataset(legacy(prepared_dir)).verified == "fingerprint"
    table_path = prepared_dir / "events.parquet"
    import pyarrow.parquet as pq

    table = pq.read_table(table_path)
    items = table.column("item").to_numpy().copy()
    items[5] = items[6] if items[6] != items[5] else items[5] % 11 + 1
    pq.write_table(table.set_column(table.schema.get_field_index("item"), "item", [items]), table_path)
    with pytest.raises(DataError, match="does not match the fingerprint"):
        PreparedDataset(prepared_dir)


def test_an_unreadable_parquet_file_of_the_previous_release_is_a_data_error(prepared_dir):
    path = legacy(prepared_dir) / "items.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"items\.parquet: cannot read"):
        PreparedDataset(prepared_dir)


def test_the_session_length_is_capped_at_the_longest_session(prepared_dir):
    dataset = PreparedDataset(prepared_dir)
    assert dataset.config["prepare"]["max_session_len"] == 1_000_000
    assert dataset.longest_session == int(dataset.events["position"].max()) + 1 == 4
    assert dataset.max_session_len == 4
