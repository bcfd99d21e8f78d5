"""`benchmarks/priors_on_runs.py`: which runs of a compare folder it re-scores, and its table."""

import importlib.util
import json
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "priors_on_runs.py"
spec = importlib.util.spec_from_file_location("priors_on_runs", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_the_finished_runs_of_a_workdir_are_found_trials_and_partial_runs_left_out(tmp_path):
    compare = tmp_path / "drift" / "compare"
    for run in ("hiertcn-tune/best", "hiertcn-tune/trials/trial-0000", "hiertcn.seed-1", "hiertcn.seed-2.partial"):
        (compare / run).mkdir(parents=True)
        (compare / run / "model.keras").write_text("")
    (tmp_path / "drift" / "prepared").mkdir()
    (compare / "table.json").write_text(json.dumps([{"model": "successor", "recall@10": 0.3, "mrr": 0.2,
                                                     "n_events": 10}, {"model": "hiertcn", "recall@10": 0.4}]))
    (tmp_path / "other" / "compare").mkdir(parents=True)  # no prepared data: not a dataset folder
    jobs = bench.workdir_jobs(tmp_path)
    assert [(name, run.relative_to(compare).as_posix()) for name, _, run, _ in jobs] == [
        ("drift", "hiertcn-tune/best"), ("drift", "hiertcn.seed-1")]
    assert bench.baseline_rows(jobs[0][3]) == [("successor", 0.3, 0.2, 10)]
    assert bench.workdir_jobs(tmp_path, datasets=["globo"]) == []
    (compare / "gru4rec.seed-1").mkdir()
    (compare / "gru4rec.seed-1" / "model.keras").write_text("")
    assert len(bench.workdir_jobs(tmp_path)) == 3
    assert [run.name for _, _, run, _ in bench.workdir_jobs(tmp_path, models=["hiertcn"])] == ["best", "hiertcn.seed-1"]


def test_the_table_has_the_four_variants_per_model_and_the_baselines():
    def variant(hours, beta, gamma, recall, mrr):
        return {"hours": hours, "beta": beta, "gamma": gamma, "valid": [0, 0], "test": [recall, mrr]}

    runs = [{"dataset": "d", "model": "hiertcn", "n_test": 100, "no prior": variant(0.25, 0, 0, 0.4, 0.3),
             "+ recency": variant(0.25, 0, 0, 0.4, 0.3), "+ transitions": variant(0.25, 0, 16, 0.5 + s, 0.4),
             "+ both": variant(168, 1, 32, 0.6, 0.45)} for s in (0.0, 0.02)]
    table = bench.format_table(runs, {"d": [("successor", 0.52, 0.44, 100)]}, {"d": (0.55, 0.45, 100)})
    assert "| d | hiertcn no prior | 2 | 0.4000 ± 0.0000 | 0.3000 ± 0.0000 | 100 | – |" in table
    assert "| d | hiertcn + transitions | 2 | 0.5100 ± 0.0141 |" in table
    assert "| d | hiertcn + both | 2 | 0.6000 ± 0.0000 | 0.4500 ± 0.0000 | 100 | 168, 1, 32; 168, 1, 32 |" in table
    assert "| d | successor (baseline) | det. | 0.5200 | 0.4400 | 100 | – |" in table
    assert "| d | causal successor counts (baseline) | det. | 0.5500 | 0.4500 | 100 | – |" in table

