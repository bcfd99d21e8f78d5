"""`hiertcn recommend` and `hiertcn serve` (the latter as a real process, marked slow)."""

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from hiertcn_keras.cli import main
from hiertcn_keras.serving.online_recommender import OnlineRecommender
from hiertcn_keras.serving.serve_process import start_serve


def test_recommend_replays_a_history_file(learned_run, tmp_path, capsys):
    history = tmp_path / "h.csv"
    history.write_text("user,item,timestamp\nx,i1,10\nx,i2,70\nother,i5,20\nx,i2,70\nx,i3,9000\n")
    assert main(["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history), "--k", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["events"] == {"new_session": 2, "kept": 1, "duplicate": 1}
    direct = OnlineRecommender.open(learned_run, store="memory:")
    for item, t in [("i1", 10), ("i2", 70), ("i3", 9000)]:
        direct.observe("x", item, t)
    assert [e["item"] for e in out["items"]] == direct.recommend("x", 3).items


def test_recommend_errors_name_the_problem(learned_run, tmp_path, capsys):
    history = tmp_path / "h.csv"
    history.write_text("item,timestamp\ni1,10\nzzz,20\n")
    assert main(["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history)]) == 2
    assert "zzz" in capsys.readouterr().err
    history.write_text("item,when\ni1,10\n")
    assert main(["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history)]) == 2
    assert "timestamp" in capsys.readouterr().err
    history.write_text("item,timestamp\ni1,1700000000000\n")
    assert main(["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history)]) == 2
    err = capsys.readouterr().err
    assert "h.csv" in err and "milliseconds" in err and "Traceback" not in err


def test_serve_help_lists_the_routes(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "POST /events" in text and "127.0.0.1" in text


def test_serve_flags_are_validated(learned_run, capsys):
    for flag, value in [("--max-events", "0"), ("--body-timeout", "nan"), ("--limit-concurrency", "-3")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--run", str(learned_run), flag, value])
        assert exit_info.value.code == 2 and flag in capsys.readouterr().err


def _start_serve(args, tmp_path, wait_s):
    """`hiertcn serve ARGS --port 0` as a process, its user states under `tmp_path` (`start_serve`)."""
    return start_serve(args, env={**os.environ, "HIERTCN_STATE_HOME": str(tmp_path / "state")}, wait_s=wait_s)


@pytest.mark.slow
def test_serve_runs_as_a_process(learned_run, tmp_path):
    server = _start_serve(["--run", str(learned_run), "--warm", "--user-update", "compiled"], tmp_path, 120)
    url, lines = server.url, server.lines
    try:
        assert url.startswith("http://127.0.0.1:"), lines
        assert any(x.startswith("warmed: 12 compiled user-update functions") for x in lines), lines
        store_line = next(x for x in lines if x.startswith("user store (default"))
        store_path = Path(store_line.split(": ", 1)[1].strip())
        assert store_path.is_relative_to(tmp_path / "state") and store_path.is_file()
        body = json.dumps({"user": "p", "item": "i1", "timestamp": 5}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/events", data=body, method="POST")) as r:
            assert json.loads(r.read())["accepted"] == 1
        with urllib.request.urlopen(f"{url}/users/p/recommendations?k=2") as r:
            assert len(json.loads(r.read())["items"]) == 2
        with urllib.request.urlopen(urllib.request.Request(f"{url}/users/p/state", method="DELETE")) as r:
            assert json.loads(r.read()) == {"user": "p", "deleted": True}
        with urllib.request.urlopen(f"{url}/openapi.json") as r:
            assert "/users/{user}/state" in json.loads(r.read())["paths"]
    finally:
        output = server.stop()
    assert "Traceback" not in output


@pytest.mark.slow
def test_serve_follows_a_store_directory_as_a_process(pretrained_run, tmp_path):
    import numpy as np

    from hiertcn_keras.artifacts.embedding_store import write_store
    from hiertcn_keras.artifacts.store_directory import StoreDirectory
    from hiertcn_keras.serving.serving_run import ServingRun

    run = ServingRun.open(pretrained_run)
    ids = [None] + list(run.item_ids[1:])
    stores = StoreDirectory(tmp_path / "stores")
    paths = []
    for k, until in enumerate((1_500_000_000.0, 1_500_003_600.0)):
        matrix = np.random.default_rng(k).normal(size=(len(ids), 6)).astype(np.float32)
        paths.append(write_store(stores.path_for(until), matrix, ids, config={"until": until}))
    stores.set_latest(paths[0])
    server = _start_serve(["--run", str(pretrained_run), "--items", str(stores.root), "--follow-seconds", "0.5"],
                          tmp_path, 180)
    url, lines = server.url, server.lines
    try:
        assert any(x.startswith(f"following {stores.root}") for x in lines), lines

        def served():
            with urllib.request.urlopen(f"{url}/healthz") as r:
                return json.loads(r.read())["item_store"]["store"]

        assert served() == paths[0].name
        stores.set_latest(paths[1])  # the watcher notices within a poll and swaps
        deadline = time.monotonic() + 120
        while served() != paths[1].name and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served() == paths[1].name
        with urllib.request.urlopen(f"{url}/users/p/recommendations?k=2") as r:
            assert json.loads(r.read())["item_store"] == paths[1].name
    finally:
        output = server.stop()
    assert "Traceback" not in output
    assert "item store reloaded: now serving " + paths[1].name in output


@pytest.mark.slow
def test_recommend_serves_the_recency_prior_and_warms_it_from_data(prior_run, twin_store, serving_data_dir,
                                                                    learned_run, tmp_path, capsys):
    history = tmp_path / "h.csv"
    history.write_text("item,timestamp\ni1,40000\n")
    args = ["recommend", "--run", str(prior_run), "--items", str(twin_store), "--user", "x", "--history",
            str(history), "--k", "3"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "recency prior: window 3 h, beta 2; the click counter starts empty" in captured.err
    cold = json.loads(captured.out)["items"]
    assert main(args + ["--recency-from", "run"]) == 0
    captured = capsys.readouterr()
    assert f"of {serving_data_dir}" in captured.err and "of items outside the catalogue skipped" in captured.err
    warm = json.loads(captured.out)["items"]
    assert warm != cold  # the data's last 3 h of clicks moved the scores
    assert main(["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history),
                 "--recency-from", str(serving_data_dir)]) == 2
    assert "not trained with the recency or transition prior" in capsys.readouterr().err


def test_ivf_flags_are_checked_before_anything_is_loaded(learned_run, tmp_path, capsys):
    history = tmp_path / "h.csv"
    history.write_text("user,item,timestamp\nx,i1,10\n")
    base = ["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history)]
    for extra, message in [(["--retrieval", "ivf", "--nprobe", "2", "--recall-target", "0.9"], "not both"),
                           (["--nprobe", "2"], "--nprobe only apply to --retrieval ivf")]:
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(base + ["--retrieval", "ivf", "--recall-target", "1.5"])
    assert exit_info.value.code == 2 and "--recall-target" in capsys.readouterr().err


@pytest.mark.slow
def test_a_calibrated_ivf_index_at_recall_1_ranks_as_exact_search(learned_run, tmp_path, capsys):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    history = tmp_path / "h.csv"
    history.write_text("user,item,timestamp\nx,i1,10\nx,i2,70\n")
    base = ["recommend", "--run", str(learned_run), "--user", "x", "--history", str(history), "--k", "3"]
    assert main(base) == 0
    exact = json.loads(capsys.readouterr().out)["items"]
    assert main(base + ["--retrieval", "ivf", "--recall-target", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == exact  # recall 1 on the calibration queries
