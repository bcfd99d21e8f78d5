"""Which folders a command may replace (`hiertcn_keras.artifacts.output_guard`), and the marker it leaves.

Issue case 1: `prepare --input logs --out logs` deleted the input logs; an `--out` folder with
unrelated files was emptied; an `--out` that is a regular file became a folder.
"""

import json
import os

import pytest

from hiertcn_keras.artifacts import atomic, output_guard
from hiertcn_keras.artifacts.output_guard import MARKER, OutputError, artifact_kind, check_output


def make(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        if name in ("events", "logs", "shards", "serving"):
            path.mkdir()
        else:
            path.write_text("{}")
    return folder


def legacy_dataset(folder):
    make(folder, "events.parquet", "items.parquet", "users.parquet", "stats.json")
    (folder / "config.json").write_text(json.dumps({"format_version": 1, "prepare": {}}))
    return folder


def test_a_written_artifact_carries_its_marker(tmp_path):
    with atomic.atomic_dir(tmp_path / "out", kind="dataset") as tmp:
        (tmp / "stats.json").write_text("{}")
    assert json.loads((tmp_path / "out" / MARKER).read_text()) == {"kind": "dataset", "marker_version": 1}
    assert artifact_kind(tmp_path / "out") == "dataset"


def test_folders_of_the_previous_release_are_recognised(tmp_path):
    assert artifact_kind(legacy_dataset(tmp_path / "d")) == "dataset"
    assert artifact_kind(make(tmp_path / "r", "model.keras", "config.json", "history.json", "logs")) == "run"
    store = make(tmp_path / "s", "embeddings.bin", "ids.parquet")
    (store / "manifest.json").write_text(json.dumps({"format": "hiertcn-embedding-store"}))
    assert artifact_kind(store) == "store"
    compare = make(tmp_path / "c", "table.json", "table.md")
    make(compare / "hiertcn", "model.keras", "config.json")
    assert artifact_kind(compare) == "compare"
    assert artifact_kind(make(tmp_path / "u", "notes.txt", "config.json")) is None


@pytest.mark.parametrize("relation", ["is", "contains", "is inside"])
def test_an_output_touching_an_input_is_refused_even_with_overwrite(tmp_path, relation):
    logs = make(tmp_path / "logs", "log.csv")
    out = {"is": logs, "contains": tmp_path, "is inside": logs / "prepared"}[relation]
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=f"{relation} the input"):
            check_output(out, "dataset", inputs=[logs / ".." / "logs"], overwrite=overwrite)
    assert (logs / "log.csv").is_file()


def test_a_regular_file_as_output_folder_is_refused(tmp_path):
    (tmp_path / "out").write_text("mine")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "out", "dataset", overwrite=True)


def test_a_foreign_folder_needs_overwrite(tmp_path):
    out = make(tmp_path / "out", "README.md", "log.csv")
    with pytest.raises(OutputError, match=r"not a dataset written by hiertcn \(it holds README.md, log.csv\).*--overwrite"):
        check_output(out, "dataset")
    check_output(out, "dataset", overwrite=True)


def test_an_artifact_of_another_kind_needs_overwrite(tmp_path):
    run = make(tmp_path / "run", "model.keras", "config.json")
    with pytest.raises(OutputError, match="a run folder, not a dataset"):
        check_output(run, "dataset")


def test_our_own_folder_and_an_empty_one_are_replaced(tmp_path):
    check_output(legacy_dataset(tmp_path / "d"), "dataset")
    check_output(make(tmp_path / "empty"), "dataset")
    check_output(tmp_path / "new" / "deeper", "dataset")


def test_a_user_file_inside_our_folder_needs_overwrite(tmp_path):
    out = legacy_dataset(tmp_path / "d")
    output_guard.write_marker(out, "dataset")
    (out / "my-notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="also holds files hiertcn did not write \\(my-notes.txt\\)"):
        check_output(out, "dataset")


def test_a_run_holding_a_user_store_is_refused_even_with_overwrite(tmp_path):
    run = make(tmp_path / "run", "model.keras", "config.json", "serving")
    (run / "serving" / "users.sqlite").write_bytes(b"")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="serving user store"):
            check_output(run, "run", overwrite=overwrite)


def test_atomic_dir_refuses_what_appeared_during_the_block(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputError):
        with atomic.atomic_dir(out, kind="dataset") as tmp:
            (tmp / "stats.json").write_text("{}")
            make(out, "someone-else.txt")
    assert [p.name for p in out.iterdir()] == ["someone-else.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_parent_is_refused_up_front(tmp_path):
    locked = make(tmp_path / "locked")
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write in"):
            check_output(locked / "out", "dataset")
    finally:
        locked.chmod(0o700)


def test_a_file_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, so no folder can be made under it"):
        check_output(tmp_path / "file" / "out", "dataset")


def test_output_files_are_not_replaced_unless_ours(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("mine")
    with pytest.raises(OutputError, match="was not written by hiertcn"):
        output_guard.check_output_file(log, ours=tmp_path / "log.generator.json")
    (tmp_path / "log.generator.json").write_text("{}")
    output_guard.check_output_file(log, ours=tmp_path / "log.generator.json")
    with pytest.raises(OutputError, match="is the input"):
        output_guard.check_output_file(log, inputs=[log], overwrite=True)


def test_a_tuned_compare_folder_is_replaced_by_the_next_compare(tmp_path):
    # `compare --tune --refit` writes MODEL-tune searches and a refit-data dataset beside its runs.
    out = make(tmp_path / "c", "table.json", "table.md")
    output_guard.write_marker(out, "compare")
    make(out / "hiertcn", "model.keras", "config.json")
    make(out / "hiertcn-tune", "trials.json", "trials.csv")
    output_guard.write_marker(legacy_dataset(out / "refit-data"), "dataset")
    check_output(out, "compare")
    # A folder that only looks like a search (no trials.json) is the user's: refused.
    make(out / "notes-tune", "notes.txt")
    with pytest.raises(OutputError, match="notes-tune"):
        check_output(out, "compare")
