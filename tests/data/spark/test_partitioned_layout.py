"""The partitioned events layout (`events/part-*.parquet`) reads exactly like `events.parquet`.

No Spark needed: the parts are cut here from a pandas-prepared folder, by user ranges, the way
the Spark engine writes them.
"""

import json
import shutil
import sys

import numpy as np
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.prepared import read_events
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.artifacts.integrity import file_records
from hiertcn_keras.data.prepare import PrepareConfig, fingerprint_chunks, prepare, write_events

H = 3600.0


@pytest.fixture
def single(tmp_path, log_factory):
    rows = [(f"u{u}", "abcde"[(u * k) % 5], k * H + u) for u in range(1, 9) for k in range(6)]
    prepare(log_factory(rows), PrepareConfig()).write(tmp_path / "single")
    return tmp_path / "single"


def cut_into_parts(single, out, bounds):
    """Copy `single` with its events cut before each user index in `bounds`."""
    shutil.copytree(single, out)
    (out / "events.parquet").unlink()
    (out / "events").mkdir()
    events = read_events(single)
    cuts = np.searchsorted(events["user"], bounds)
    for k, (a, b) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, len(events["user"])])):
        if b > a:
            write_events(out / "events" / f"part-{k:06d}.parquet", {c: v[a:b] for c, v in events.items()})
    # Record the new files, as the Spark engine does for the parts it writes.
    config = json.loads((out / "config.json").read_text())
    config["files"] = file_records(out)
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_parts_read_like_the_single_file(single, tmp_path):
    parts = cut_into_parts(single, tmp_path / "parts", [3, 4, 7])
    a, b = PreparedDataset(single), PreparedDataset(parts)
    assert len(list((parts / "events").iterdir())) == 4
    for column, values in a.events.items():
        assert b.events[column].dtype == values.dtype
        np.testing.assert_array_equal(b.events[column], values)
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(b.view(split).score, a.view(split).score)


def test_fingerprint_does_not_depend_on_the_cut(single, tmp_path):
    data = PreparedDataset(single)
    config = PrepareConfig(**data.config["prepare"])
    for k, bounds in enumerate(([], [2], [2, 5, 8])):
        parts = cut_into_parts(single, tmp_path / f"p{k}", bounds)
        files = sorted((parts / "events").iterdir())
        import pyarrow.parquet as pq

        chunks = lambda column: (pq.read_table(f, columns=[column]).column(column).to_numpy() for f in files)  # noqa: E731
        got = fingerprint_chunks(chunks, config, data.items["id"].to_numpy(), data.users["id"].to_numpy())
        assert got == data.fingerprint


def test_parts_out_of_user_order_are_refused(single, tmp_path):
    parts = cut_into_parts(single, tmp_path / "parts", [5])
    first, second = sorted((parts / "events").iterdir())
    first.rename(parts / "events" / "part-000009.parquet")  # now read after the second part
    with pytest.raises(DataError, match=r"part-000000\.parquet: file is missing"):
        PreparedDataset(parts)  # the per-file record notices first
    config = json.loads((parts / "config.json").read_text())
    config["files"] = file_records(parts)
    (parts / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match="earlier part reached user"):
        PreparedDataset(parts)


def test_spark_engine_without_pyspark_says_how_to_install(monkeypatch, tmp_path, capsys):
    from hiertcn_keras import cli
    from hiertcn_keras.data.spark import INSTALL_HINT, require_pyspark

    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'hiertcn-keras\[spark\]'"):
        require_pyspark()
    assert cli.main(["prepare", "--input", str(tmp_path), "--engine", "spark", "--out", str(tmp_path / "o")]) == 2
    assert INSTALL_HINT in capsys.readouterr().err and not (tmp_path / "o").exists()
