import json
import os
import subprocess
import sys

import pytest

from hiertcn_keras import cli

VERBS = ("synth", "prepare", "stats", "train", "evaluate", "compare", "embed-items", "tune")


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_explains_itself_with_examples(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([verb, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and f"hiertcn {verb}" in out


def test_top_level_help_lists_verbs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


def test_synth_prepare_stats_end_to_end(tmp_path, capsys):
    log = tmp_path / "log.csv"
    assert cli.main(["synth", "--out", str(log), "--users", "40", "--items", "60", "--seed", "1"]) == 0
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "prep")]) == 0
    stats = json.loads((tmp_path / "prep" / "stats.json").read_text())
    assert stats["n_events"] + sum(stats["dropped"].values()) == stats["n_rows_read"]
    capsys.readouterr()
    assert cli.main(["stats", str(tmp_path / "prep")]) == 0
    out = capsys.readouterr().out
    assert f"{stats['n_events']:,}" in out and "session length" in out


def test_prepare_flags_override_the_preset(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\n1,a,0\n1,b,100\n1,c,5000\n2,a,10\n")
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "p"), "--session-gap", "50",
                     "--max-session-len", "1", "--protocol", "paper", "--split-fractions", "1", "0", "0"]) == 0
    stats = json.loads((tmp_path / "p" / "stats.json").read_text())
    # gap 50: user 1 has sessions [a] [b] [c]; L=1 truncates nothing.
    assert stats["n_sessions"] == 4 and stats["protocol"] == "paper"


def test_bad_input_exits_2_naming_file_row_and_column(tmp_path, capsys):
    log = tmp_path / "bad.csv"
    log.write_text("user_id,item_id,timestamp\n1,a,0\n1,b,yesterday\n")
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 2" in err and "timestamp" in err
    assert not (tmp_path / "p").exists()


def test_stats_on_a_wrong_folder_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["stats", str(tmp_path)]) == 2
    assert "hiertcn prepare" in capsys.readouterr().err


def test_version_comes_from_the_installed_distribution(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hiertcn {version('hiertcn-keras')}"


def test_bad_rows_error_names_the_flag_not_the_keyword(tmp_path, capsys):
    log = tmp_path / "bad.csv"
    log.write_text("user_id,item_id,timestamp\n1,a,0\n1,b,yesterday\n")
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "--on-bad-rows drop" in err and "on_bad_rows" not in err
    # ... and the flag it names works.
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "p"), "--on-bad-rows", "drop"]) == 0


def test_only_keywords_that_are_flags_of_the_verb_are_rewritten():
    parser = cli.build_parser()
    args = parser.parse_args(["stats", "somewhere"])
    message = "x (pass on_bad_rows='drop'), got shape='[3]'"
    # `stats` has neither flag: nothing changes; `prepare` has --on-bad-rows only.
    assert cli.flags_named_as_flags(message, args.verb_parser) == message
    prepare = parser.parse_args(["prepare", "--input", "a", "--out", "b"]).verb_parser
    assert cli.flags_named_as_flags(message, prepare) == "x (pass --on-bad-rows drop), got shape='[3]'"


class _ClosedPipe:
    """A stdout whose reader went away: every write raises BrokenPipeError."""

    def __init__(self, fd):
        self.fd = fd

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass

    def fileno(self):
        return self.fd


@pytest.fixture
def prepared(tmp_path):
    log = tmp_path / "log.csv"
    assert cli.main(["synth", "--out", str(log), "--users", "40", "--items", "60", "--seed", "1"]) == 0
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "prep")]) == 0
    return tmp_path / "prep"


def test_a_closed_stdout_ends_quietly_without_a_traceback(prepared, monkeypatch, capsys):
    capsys.readouterr()
    read_end, write_end = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", _ClosedPipe(write_end))
        assert cli.main(["stats", str(prepared)]) == 141
    finally:
        os.close(read_end)
        os.close(write_end)
    assert capsys.readouterr().err == ""


def test_head_of_stats_is_clean_in_a_real_pipe(prepared):
    # `hiertcn stats DIR | head -1` as a shell runs it: stdout closed after the first line.
    code = ("import sys, time\nfrom hiertcn_keras import cli\nsys.stdout.write('x' * 300000)\n"
            "sys.exit(cli.main(['stats', sys.argv[1]]))")
    writer = subprocess.Popen([sys.executable, "-c", code, str(prepared)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    writer.stdout.read(10)
    writer.stdout.close()  # the reader goes away while the writer still has more than a pipe buffer
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 141, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_train_prints_the_tensorboard_command(tmp_path, monkeypatch, capsys):
    from hiertcn_keras.cli import verbs_training

    metrics = {"model": "hiertcn", "recall@10": 0.5, "n_events": 3, "protocol": "temporal", "split": "test",
               "tie_policy": "conservative", "averaging": "event"}
    monkeypatch.setattr(verbs_training, "_train_one", lambda args, model, out: metrics)
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(tmp_path), "--out", str(out)]) == 0
    assert f"tensorboard --logdir {out}/logs" in capsys.readouterr().out


def test_synth_drift_generator_and_its_oracle(tmp_path, capsys):
    log = tmp_path / "drift.csv"
    assert cli.main(["synth", "--generator", "drift", "--out", str(log), "--users", "30", "--items", "80"]) == 0
    assert "drift generator" in capsys.readouterr().out
    assert (tmp_path / "drift.oracle.parquet").is_file() and (tmp_path / "drift.generator.json").is_file()
    assert cli.main(["synth", "--generator", "drift", "--topics", "4", "--out", str(log)]) == 2
    assert "--topics applies to --generator topics only" in capsys.readouterr().err


def test_recency_flags_set_the_model_config_and_contradictions_exit_2(prepared, tmp_path, capsys):
    import argparse

    from hiertcn_keras.cli.common import recency_overrides

    def parsed(**values):
        return argparse.Namespace(**{"recency_prior": None, "recency_hours": None, "recency_beta": None,
                                     "transition_prior": None, "transition_gamma": None, **values})

    assert recency_overrides(parsed()) == {"recency_prior": None, "recency_hours": None, "recency_beta": None,
                                           "transition_prior": None, "transition_gamma": None}
    assert recency_overrides(parsed(recency_beta=0.5))["recency_prior"] is True  # a weight asks for the prior
    assert recency_overrides(parsed(transition_gamma=0.5))["transition_prior"] is True
    assert cli.main(["train", "--data", str(prepared), "--out", str(tmp_path / "run"), "--no-recency-prior",
                     "--recency-hours", "1"]) == 2
    assert "need the recency prior" in capsys.readouterr().err
    assert cli.main(["train", "--data", str(prepared), "--out", str(tmp_path / "run"), "--no-transition-prior",
                     "--transition-gamma", "1"]) == 2
    assert "needs the transition prior" in capsys.readouterr().err
