"""Atomic writes: the new content appears whole, or nothing changes."""

import json

import pytest

from hiertcn_keras.artifacts.atomic import atomic_dir, atomic_file, atomic_write, write_json


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
