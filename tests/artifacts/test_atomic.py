"""Atomic writes: the new content appears whole, or nothing changes; with the umask's permissions.

`tempfile` creates its names 0600/0700; what is renamed into place must not keep them, or a
serving account cannot read what a training account wrote (issue 13).
"""

import json
import os
import stat

import pytest

from hiertcn_keras.artifacts.atomic import atomic_dir, atomic_file, atomic_write, current_umask, write_json


def test_atomic_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "sub" / "part.parquet"
    atomic_write(target, lambda tmp: tmp.write_text("first"))
    atomic_write(target, lambda tmp: tmp.write_text("second"))
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["part.parquet"]


def test_atomic_write_keeps_the_suffix_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    seen = []

    def failing(tmp):
        seen.append(tmp)
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(target, failing)
    assert seen[0].suffix == ".keras" and seen[0].name.startswith(".")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_atomic_file_and_dir_leave_nothing_on_failure(tmp_path):
    with pytest.raises(ValueError):
        with atomic_file(tmp_path / "x.json") as f:
            f.write("{")
            raise ValueError("bad")
    with pytest.raises(ValueError):
        with atomic_dir(tmp_path / "run") as tmp:
            (tmp / "model.keras").write_text("half")
            raise ValueError("bad")
    assert list(tmp_path.iterdir()) == []
    write_json(tmp_path / "ok.json", {"a": 1})
    assert json.loads((tmp_path / "ok.json").read_text()) == {"a": 1}


@pytest.fixture(params=[0o022, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_it_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_dir_and_file_follow_the_umask(tmp_path, umask):
    with atomic_dir(tmp_path / "out") as tmp:
        write_json(tmp / "a.json", {"x": 1})
        with atomic_file(tmp / "b.bin", "wb") as f:
            f.write(b"\0")
        atomic_write(tmp / "c.parquet", lambda path: path.write_bytes(b"\0"))
        (tmp / "plain.txt").write_text("written by open()")
    out = tmp_path / "out"
    assert mode(out) == 0o777 & ~umask
    for name in ("a.json", "b.bin", "c.parquet"):
        assert mode(out / name) == mode(out / "plain.txt") == 0o666 & ~umask


def test_a_prepared_dataset_is_readable_by_the_group_under_umask_002(tmp_path, umask):
    from hiertcn_keras.data.loaders import load_generic
    from hiertcn_keras.data.prepare import prepare

    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\nu,a,10\nu,b,20\nv,a,30\nv,b,40\n")
    prepare(load_generic(log)).write(tmp_path / "prepared")
    for path in [tmp_path / "prepared", *(tmp_path / "prepared").iterdir()]:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode(path) == expected, path
