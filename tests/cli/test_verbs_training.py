import json

from hiertcn_keras import cli


def test_compare_with_seeds_writes_the_uncertainty_table(tmp_path, capsys):
    log = tmp_path / "log.csv"
    assert cli.main(["synth", "--out", str(log), "--users", "40", "--items", "60", "--seed", "1"]) == 0
    assert cli.main(["prepare", "--input", str(log), "--out", str(tmp_path / "prep")]) == 0
    out = tmp_path / "cmp"
    assert cli.main(["compare", "--data", str(tmp_path / "prep"), "--models", "gru", "successor", "vsknn",
                     "--seeds", "2", "--epochs", "1", "--embedding-dim", "8", "--high-units", "8",
                     "--batch-size", "32", "--no-jit", "--quiet", "--out", str(out), "--oracle-log", str(log)]) == 0
    rows = json.loads((out / "table.json").read_text())
    gru, successor, vsknn, oracle = rows
    assert gru["n_seeds"] == 2 and gru["seeds"] == [0, 1] and len(gru["runs"]) == 2
    assert gru["recall@10_std"] is not None and len(gru["epochs"]) == 2 and gru["train_seconds"] > 0
    assert (out / "gru" / "seed-0" / "model.keras").is_file() and (out / "gru" / "seed-1" / "model.keras").is_file()
    assert successor["deterministic"] and successor["recall@10_std"] == 0.0 and successor["n_seeds"] == 1
    assert gru["n_events"] == successor["n_events"] == vsknn["n_events"]
    assert 0 < successor["coverage"] <= 1 and oracle["model"] == "oracle (generator)"
    table = (out / "table.md").read_text()
    assert "± " in table and "det." in table and "budget: untuned, at most 1 epochs" in table
    # compare's default: the recency and transition priors, chosen on validation (weights 0 allowed),
    # recorded in each run.
    assert "with the recency and transition priors" in table
    config = json.loads((out / "gru" / "seed-0" / "config.json").read_text())["model"]
    assert config["recency_prior"] and config["recency_hours"] is not None and config["recency_beta"] >= 0
    assert config["transition_prior"] and config["transition_gamma"] >= 0
    with_prior = any(run.get("recency_beta") or run.get("transition_gamma") for run in gru["runs"])
    assert ("| gru + priors" in table) == with_prior
    assert table.strip() in capsys.readouterr().out


def test_compare_rejects_zero_seeds(tmp_path, capsys):
    assert cli.main(["compare", "--data", str(tmp_path), "--models", "pop", "--seeds", "0", "--out",
                     str(tmp_path / "o")]) == 2
    assert "--seeds must be ≥ 1" in capsys.readouterr().err
