import json

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
