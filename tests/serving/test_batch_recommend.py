"""`hiertcn recommend --log`: many users at once, equal to the single-user command per user."""

import json

import numpy as np
import pandas as pd

from hiertcn_keras.cli import main


def write_log(path, rows):
    lines = ["user_id,item_id,timestamp"] + [f"{u},{i},{t}" for u, i, t in rows]
    path.write_text("\n".join(lines) + "\n")


def test_batch_equals_single_user_recommend(learned_run, raw_log_rows, tmp_path, capsys):
    log = tmp_path / "log.csv"
    write_log(log, raw_log_rows + [("u1", "zzz", raw_log_rows[-1][2] + 5.0)])
    users = tmp_path / "users.txt"
    users.write_text("u1\nu3\nnobody\n")
    out = tmp_path / "recs.parquet"
    assert main(["recommend", "--run", str(learned_run), "--log", str(log), "--users", str(users),
                 "--k", "4", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["users"] == 3 and report["users_without_history"] == 1
    assert report["unknown_item_events"] == 1 and report["unknown_item_examples"] == ["zzz"]
    table = pd.read_parquet(out)
    assert list(table.columns) == ["user_id", "rank", "item_id", "score"]
    assert len(table) == 12 and table.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4]] * 3
    for user in ("u1", "u3"):
        # our own log format as --history (user_id,item_id,timestamp), other users ignored
        assert main(["recommend", "--run", str(learned_run), "--user", user, "--history", str(log), "--k", "4",
                     "--unknown-items", "skip"]) == 0
        single = json.loads(capsys.readouterr().out)["items"]
        rows = table[table["user_id"] == user]
        assert rows["item_id"].tolist() == [e["item"] for e in single]
        np.testing.assert_allclose(rows["score"], [e["score"] for e in single], rtol=0, atol=1e-6)


def test_batch_refuses_an_existing_out_and_missing_flags(learned_run, tmp_path, capsys):
    log = tmp_path / "log.csv"
    write_log(log, [("a", "i1", 10.0)])
    out = tmp_path / "recs.parquet"
    out.write_text("mine")
    assert main(["recommend", "--run", str(learned_run), "--log", str(log), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "mine"
    assert main(["recommend", "--run", str(learned_run), "--log", str(log)]) == 2
    assert "--out" in capsys.readouterr().err


def test_evaluate_on_a_test_log_of_ones_own(learned_run, raw_log_rows, tmp_path, capsys):
    log = tmp_path / "mine.csv"
    write_log(log, raw_log_rows[-20:] + [("u9", "zzz", 1.0)])
    out = tmp_path / "mine.json"
    assert main(["evaluate", "--run", str(learned_run), "--test-log", str(log), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    held = metrics["heldout"]
    assert held["rows"] == 21 and held["unknown_item_events"] == 1 and held["unknown_item_examples"] == ["zzz"]
    assert metrics["n_events"] == held["scored"] > 0 and metrics["tie_policy"] == "conservative"
    assert 0.0 <= metrics["recall@10"] <= 1.0 and metrics["protocol"] == "heldout"
    assert "coverage" in capsys.readouterr().out
    assert main(["evaluate", "--model", "pop", "--test-log", str(log)]) == 2
    assert "--run" in capsys.readouterr().err
