"""Every verb on every broken input of issue 13: exit code 2, the file named, no traceback.

Each case builds one broken input from a small valid one (a log, its prepared dataset, a run
folder, an embedding store) and runs the verb in-process through `hiertcn_keras.cli.main`. None
of them trains a model: every refusal must come before any work is done.
"""

import gzip
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiertcn_keras import cli
from hiertcn_keras.limits import MAX_ID_LENGTH

HEADER = "user_id,item_id,timestamp\n"
# 6 users × 3 sessions of 4 clicks, 60 s apart, sessions 2 h apart.
ROWS = [(f"u{u}", f"i{(u * 5 + s * 3 + p) % 9}", 1_600_000_000 + 7200 * s + 60 * p)
        for u in range(6) for s in range(3) for p in range(4)]


def log_text(rows=ROWS):
    return HEADER + "".join(f"{u},{i},{t}\n" for u, i, t in rows)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid log, its prepared dataset and an embedding store for it (built once)."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.artifacts.embedding_store import write_store

    root = tmp_path_factory.mktemp("good")
    (root / "log.csv").write_text(log_text())
    assert cli.main(["prepare", "--input", str(root / "log.csv"), "--out", str(root / "prepared")]) == 0
    dataset = PreparedDataset(root / "prepared")
    matrix = np.random.default_rng(0).normal(size=(dataset.n_items, 4)).astype(np.float32)
    write_store(root / "store", matrix, [None] + dataset.items["id"].tolist())
    return root


def run(argv, capsys):
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def copy(good, tmp_path, name):
    target = tmp_path / name
    (shutil.copytree if (good / name).is_dir() else shutil.copy)(good / name, target)
    return target


def flip_bit(path, offset_fraction=0.5):
    data = bytearray(path.read_bytes())
    data[int(len(data) * offset_fraction)] ^= 0x10
    path.write_bytes(bytes(data))


def damaged_data(kind):
    def make(good, tmp_path):
        data = copy(good, tmp_path, "prepared")
        if kind == "events_bit":
            flip_bit(data / "events.parquet")
            return data, "events.parquet"
        (data / "items.parquet").write_bytes(b"PAR1 this is no parquet file PAR1")
        return data, "items.parquet"
    return make


def nan_store(good, tmp_path):
    store = copy(good, tmp_path, "store")
    with open(store / "embeddings.bin", "r+b") as f:
        f.seek(4 * 4 + 8)
        f.write(np.float32(np.nan).tobytes())
    return store, "embeddings.bin"


def truncated_model(good, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    import zipfile

    with zipfile.ZipFile(run_dir / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}" * 5000)
        archive.writestr("model.weights.h5", b"\0" * 20000)
    data = (run_dir / "model.keras").read_bytes()
    (run_dir / "model.keras").write_bytes(data[: len(data) // 2])
    (run_dir / "config.json").write_text("{}")
    return run_dir, "model.keras"


def gz_log(damage):
    def make(good, tmp_path):
        data = gzip.compress((log_text() * 40).encode())
        path = tmp_path / "log.csv.gz"
        path.write_bytes({"middle": data[: len(data) // 2], "trailer": data[:-6],
                          "crc": data[:-8] + b"\0\0\0\0" + data[-4:], "header": data[:12]}[damage])
        return path, "log.csv.gz"
    return make


def text_log(text, name="log.csv"):
    def make(good, tmp_path):
        path = tmp_path / name
        path.write_text(text)
        return path, name
    return make


def list_typed_parquet(good, tmp_path):
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user_id": [["a"], ["b"]], "item_id": ["x", "y"], "timestamp": [1.6e9, 1.6e9 + 1]}), path)
    return path, "log.parquet"


# verb arguments for a broken input: (case name, builder, argv builder)
def prepare_from(path, tmp_path):
    return ["prepare", "--input", path, "--out", tmp_path / "out"]


def data_verbs(path, tmp_path):
    """Every verb reading a prepared dataset, on `path`."""
    return [
        ["train", "--data", path, "--model", "tcn", "--out", tmp_path / "r", "--epochs", "1"],
        ["evaluate", "--data", path, "--model", "pop"],
        ["compare", "--data", path, "--models", "pop", "--out", tmp_path / "c"],
        ["embed-items", "--data", path, "--out", tmp_path / "s", "--epochs", "1"],
    ]


def store_verbs(path, tmp_path, good):
    data = good / "prepared"
    return [
        ["train", "--data", data, "--model", "tcn", "--item-space", "pretrained", "--item-embeddings", path,
         "--out", tmp_path / "r", "--epochs", "1"],
        ["evaluate", "--data", data, "--model", "mv", "--item-embeddings", path],
        ["compare", "--data", data, "--models", "mv", "--item-embeddings", path, "--out", tmp_path / "c"],
    ]


BAD_LOGS = {
    "gz_cut_in_the_middle": gz_log("middle"),
    "gz_trailer_missing": gz_log("trailer"),
    "gz_crc_wrong": gz_log("crc"),
    "gz_cut_in_the_header": gz_log("header"),
    "parquet_list_typed_id": list_typed_parquet,
    "negative_timestamp": text_log(HEADER + "u,i,1600000000\nu,j,-5\n"),
    "huge_timestamp": text_log(HEADER + "u,i,1600000000\nu,j,1e300\n"),
    "millisecond_timestamp": text_log(HEADER + "u,i,1600000000000\n"),
    "repeated_header": text_log("user_id,item_id,timestamp,item_id\nu,i,1600000000,j\n"),
    "id_too_long": text_log(HEADER + f"u,{'x' * (MAX_ID_LENGTH + 1)},1600000000\n"),
    "header_only_file_alone": text_log(HEADER),
}


def cases():
    for name in sorted(BAD_LOGS):
        yield pytest.param("log", BAD_LOGS[name], 0, id=f"prepare-{name}")
    for kind in ("events_bit", "items_corrupt"):
        for k, verb in enumerate(("train", "evaluate", "compare", "embed-items")):
            yield pytest.param("data", damaged_data(kind), k, id=f"{verb}-{kind}")
    for k, verb in enumerate(("train", "evaluate", "compare")):
        yield pytest.param("store", nan_store, k, id=f"{verb}-nan_store")


@pytest.mark.parametrize("input_kind, build, index", cases())
def test_a_broken_input_is_a_clean_error_naming_the_file(good, tmp_path, capsys, input_kind, build, index):
    path, file_name = build(good, tmp_path)
    if input_kind == "log":
        argv = prepare_from(path, tmp_path)
    elif input_kind == "data":
        argv = data_verbs(path, tmp_path)[index]
    else:
        argv = store_verbs(path, tmp_path, good)[index]
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert err.startswith(f"hiertcn {argv[0]}: error: "), err
    assert file_name in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "r").exists()


def test_millisecond_times_get_the_flag_to_pass(tmp_path, capsys):
    path, _ = text_log(HEADER + "u,i,1600000000000\n")(None, tmp_path)
    code, _, err = run(prepare_from(path, tmp_path), capsys)
    assert code == 2 and "it looks like milliseconds: pass --time-unit ms" in err, err
    assert "--on-bad-rows drop" in err


def test_a_truncated_model_file_is_named_and_not_called_missing(good, tmp_path, capsys):
    run_dir, _ = truncated_model(good, tmp_path)
    code, _, err = run(["evaluate", "--data", good / "prepared", "--run", run_dir], capsys)
    assert code == 2 and "model.keras" in err and "truncated or damaged" in err
    assert "File not found" not in err and "Traceback" not in err
    code, _, err = run(["embed-items", "--data", good / "prepared", "--model", run_dir / "model.keras",
                        "--shard", "0/1", "--out", tmp_path / "s"], capsys)
    assert code == 2 and "model.keras" in err and "File not found" not in err
    (run_dir / "config.json").write_text(json.dumps({"data": {"path": str(good / "prepared")}, "model": {}}))
    (tmp_path / "history.csv").write_text("item,timestamp\ni1,1600000000\n")
    for argv in (["recommend", "--run", run_dir, "--user", "u", "--history", tmp_path / "history.csv"],
                 ["serve", "--run", run_dir, "--port", "0"]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "model.keras" in err and "truncated or damaged" in err, (argv, err)
        assert "File not found" not in err and "Traceback" not in err


def test_prepare_into_its_own_input_deletes_nothing(tmp_path, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "log.csv").write_text(log_text())
    (logs / "README.md").write_text("notes")
    for out in (logs, tmp_path, logs / "prepared"):
        for extra in ([], ["--overwrite"]):
            code, _, err = run(["prepare", "--input", logs, "--out", out, *extra], capsys)
            assert code == 2 and "the input" in err and str(logs) in err, err
    assert sorted(p.name for p in logs.iterdir()) == ["README.md", "log.csv"]


def test_prepare_refuses_a_foreign_folder_and_a_file_unless_told(good, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, _, err = run(["prepare", "--input", good / "log.csv", "--out", out], capsys)
    assert code == 2 and "thesis.tex" in err and "--overwrite" in err
    assert (out / "thesis.tex").read_text() == "years of work"
    assert run(["prepare", "--input", good / "log.csv", "--out", out, "--overwrite"], capsys)[0] == 0
    assert not (out / "thesis.tex").exists() and (out / ".hiertcn-artifact").is_file()
    # Our own dataset is replaced without asking.
    assert run(["prepare", "--input", good / "log.csv", "--out", out], capsys)[0] == 0
    (tmp_path / "file").write_text("x")
    code, _, err = run(["prepare", "--input", good / "log.csv", "--out", tmp_path / "file", "--overwrite"], capsys)
    assert code == 2 and "is a file" in err and (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("out", ["/proc/hiertcn-out", "/sys/hiertcn-out"])
def test_an_unwritable_out_is_refused_before_any_work(good, tmp_path, capsys, out):
    for argv in (["prepare", "--input", good / "log.csv", "--out", out],
                 ["train", "--data", good / "prepared", "--model", "tcn", "--out", out],
                 ["embed-items", "--data", good / "prepared", "--out", out],
                 ["compare", "--data", good / "prepared", "--models", "pop", "--out", out]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "cannot write in" in err and "Traceback" not in err, (argv, err)


def test_train_refuses_a_run_folder_holding_a_user_store(good, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "serving").mkdir(parents=True)
    for name in ("model.keras", "config.json", "history.json", "metrics.json"):
        (run_dir / name).write_text("{}")
    (run_dir / "serving" / "users.sqlite").write_bytes(b"users")
    code, _, err = run(["train", "--data", good / "prepared", "--out", run_dir, "--overwrite"], capsys)
    assert code == 2 and "users.sqlite" in err
    assert (run_dir / "serving" / "users.sqlite").read_bytes() == b"users"


def test_train_refuses_a_checkpoint_of_other_settings(good, tmp_path, capsys):
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "settings.json").write_text(json.dumps({"model": {"learning_rate": 0.5}, "train": {}}))
    code, _, err = run(["train", "--data", good / "prepared", "--model", "tcn", "--out", tmp_path / "run",
                        "--learning-rate", "0.01"], capsys)
    assert code == 2 and "run.partial" in err and "model.learning_rate: 0.5 → 0.01" in err and "--overwrite" in err


@pytest.mark.parametrize("verb", ["train", "compare"])
@pytest.mark.parametrize("flag, value", [
    ("--learning-rate", "-1"), ("--learning-rate", "nan"), ("--learning-rate", "inf"), ("--learning-rate", "0"),
    ("--patience", "-1"), ("--epochs", "0"), ("--batch-size", "0"), ("--embedding-dim", "-3"),
    ("--decay-bandwidth", "-5"), ("--negatives", "0"), ("--seed", "-1"), ("--tcn-channels", "0"),
])
def test_numeric_flags_are_validated_up_front_echoing_the_value(good, tmp_path, capsys, verb, flag, value):
    argv = [verb, "--data", good / "prepared", "--out", tmp_path / "o", flag, value]
    code, _, err = run(argv, capsys)
    assert code == 2 and f"argument {flag}: must be" in err and repr(value) in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


@pytest.mark.parametrize("argv, flag", [
    (["prepare", "--input", "x", "--out", "y", "--session-gap", "-1"], "--session-gap"),
    (["prepare", "--input", "x", "--out", "y", "--max-session-len", "0"], "--max-session-len"),
    (["prepare", "--input", "x", "--out", "y", "--split-quantiles", "0.8", "1.5"], "--split-quantiles"),
    (["prepare", "--input", "x", "--out", "y", "--min-item-support", "-2"], "--min-item-support"),
    (["synth", "--out", "x.csv", "--users", "0"], "--users"),
    (["embed-items", "--data", "x", "--out", "y", "--temperature", "nan"], "--temperature"),
    (["embed-items", "--data", "x", "--out", "y", "--top-t", "0"], "--top-t"),
    (["serve", "--run", "x", "--port", "70000"], "--port"),
    (["recommend", "--run", "x", "--history", "h.csv", "--k", "0"], "--k"),
])
def test_other_numeric_flags_are_validated(capsys, argv, flag):
    code, _, err = run(argv, capsys)
    assert code == 2 and f"argument {flag}: must be" in err


def test_null_words_are_ids_and_a_header_only_hour_is_skipped(tmp_path, capsys):
    from pathlib import Path

    log = tmp_path / "log.csv"
    log.write_text(HEADER + "".join(f"{u},{i},{1_600_000_000 + 60 * k}\n"
                                    for k, (u, i) in enumerate([("NULL", "None"), ("NULL", "nan"), ("None", "None")])))
    assert run(["prepare", "--input", log, "--out", tmp_path / "p"], capsys)[0] == 0
    assert json.loads((tmp_path / "p" / "stats.json").read_text())["n_users"] == 2
    hours = Path(__file__).parents[1] / "fixtures" / "globo" / "empty_hour"
    code, out, err = run(["prepare", "--input", hours, "--format", "globo", "--out", tmp_path / "g"], capsys)
    assert code == 0 and "1 files without data rows skipped" in out and "clicks_hour_100.csv" in err
    stats = json.loads((tmp_path / "g" / "stats.json").read_text())
    assert [Path(f).name for f in stats["empty_files"]] == ["clicks_hour_100.csv"]


def test_stats_on_a_damaged_stats_file_names_it(good, tmp_path, capsys):
    data = copy(good, tmp_path, "prepared")
    (data / "stats.json").write_text('{"n_events": ')
    code, _, err = run(["stats", data], capsys)
    assert code == 2 and "stats.json" in err and "Traceback" not in err


def test_evaluate_never_writes_over_its_inputs(good, tmp_path, capsys):
    data = copy(good, tmp_path, "prepared")
    before = (data / "config.json").read_text()
    code, _, err = run(["evaluate", "--data", data, "--model", "pop", "--out", data / "config.json"], capsys)
    assert code == 2 and "inside the input" in err and (data / "config.json").read_text() == before


def test_synth_does_not_replace_a_log_it_did_not_write(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("my own clicks")
    code, _, err = run(["synth", "--out", log, "--users", "5", "--items", "10"], capsys)
    assert code == 2 and "--overwrite" in err and log.read_text() == "my own clicks"
