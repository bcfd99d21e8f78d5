"""docs/getting-started.md's walkthrough, executed: every `hiertcn` command of the page runs on a
tiny synthetic log, in the page's order, in a scratch folder.

The commands run as written, with three changes for speed: `--epochs N` becomes `--epochs 1`,
`--trials N` becomes `--trials 2`, and `train`/`tune`/`compare` get tiny model widths (and
`--epochs 1` where the page sets no epoch cap). `hiertcn serve` (a server that runs until stopped) is
the one command not run here; tests/serving/test_verbs_serving.py starts it as a process.
Non-`hiertcn` lines (pip, make, tensorboard, curl) are not run.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiertcn_keras import cli
from tests.docs.test_docs import ROOT, bash_lines

PAGE = ROOT / "docs" / "getting-started.md"
NOT_RUN = ("serve",)
TINY = ["--embedding-dim", "8", "--tcn-channels", "8", "8", "--high-units", "8", "8", "--batch-size", "4",
        "--sessions-per-batch", "2", "--no-jit", "--quiet"]


def tiny_log(seed, users=30, items=12, start=1_700_000_000.0):
    """(user_id, item_id, timestamp) rows: a few sessions per user, hours apart, items i0..i11."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        t = start + 60.0 * u
        for _ in range(3):
            for _ in range(int(rng.integers(2, 5))):
                rows.append((f"u{u}", f"i{int(rng.integers(0, items))}", t))
                t += float(rng.integers(10, 300))
            t += 3 * 3600.0
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).sort_values("timestamp", kind="stable")


def write_inputs(folder):
    """The files the walkthrough's commands read."""
    log = tiny_log(0)
    log.to_csv(folder / "log.csv", index=False)
    clicks = log.rename(columns={"user_id": "uid", "item_id": "pin", "timestamp": "ts"})
    clicks.assign(ts=(clicks["ts"] * 1000).astype("int64")).to_csv(folder / "clicks.tsv", sep="\t", index=False)
    later = tiny_log(1, start=1_700_000_000.0 + 30 * 86400)
    later.to_csv(folder / "next-week.csv", index=False)
    later.to_csv(folder / "recent.csv", index=False)


def walkthrough_commands():
    return [tokens[1:] for tokens in bash_lines(PAGE) if tokens and tokens[0] == "hiertcn"]


def for_speed(args):
    args = list(args)
    if "--epochs" in args:
        args[args.index("--epochs") + 1] = "1"
    if "--trials" in args:
        args[args.index("--trials") + 1] = "2"
    if args[0] in ("train", "tune", "compare"):
        args += TINY + ([] if "--epochs" in args else ["--epochs", "1"])
    return args


@pytest.mark.slow  # 674 s measured at load average ~12 on 2 cores: a tuning search, compare with refit, trainings, an export
def test_every_walkthrough_command_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    commands = walkthrough_commands()
    verbs = [args[0] for args in commands]
    for needed in ("prepare", "train", "evaluate", "recommend", "export"):
        assert needed in verbs, f"the walkthrough lost its `hiertcn {needed}` step"
    for args in commands:
        if args[0] in NOT_RUN:
            continue
        status = cli.main(for_speed(args))
        captured = capsys.readouterr()
        assert status == 0, f"hiertcn {' '.join(args)} → {status}: {captured.err[-2000:]}"
    assert json.loads((tmp_path / "next-week.json").read_text())["heldout"]["scored"] > 0
    recs = pd.read_parquet(tmp_path / "recs.parquet")
    assert recs["user_id"].nunique() == 30 and recs["rank"].max() <= 10
    assert (tmp_path / "runs" / "hiertcn-saved" / "1" / "saved_model.pb").is_file()
