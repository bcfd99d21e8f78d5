"""Atomic writes give files and folders the permissions the umask asks for (issue 13, case 7).

`tempfile` creates its names 0600/0700; what is renamed into place must not keep them, or a
serving account cannot read what a training account wrote.
"""

import os
import stat

import pytest

from hiertcn_keras.artifacts import atomic


@pytest.fixture(params=[0o022, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_it_without_changing_it(umask):
    assert atomic.current_umask() == umask
    assert atomic.current_umask() == umask


def test_atomic_dir_and_file_follow_the_umask(tmp_path, umask):
    with atomic.atomic_dir(tmp_path / "out") as tmp:
        atomic.write_json(tmp / "a.json", {"x": 1})
        with atomic.atomic_file(tmp / "b.bin", "wb") as f:
            f.write(b"\0")
        (tmp / "plain.txt").write_text("written by open()")
    out = tmp_path / "out"
    assert mode(out) == 0o777 & ~umask
    for name in ("a.json", "b.bin"):
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
