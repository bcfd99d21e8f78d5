"""What the recency and transition priors add to saved neural runs (no retraining).

The priors are chosen after training (`hiertcn_keras.training.recency_choice`), so any saved
run can be re-scored with them. For every neural run, its validation split is scored once under
the full grid of the recency window and weight and the transition weight (weight 0 = the plain
model), and the no-worse rule picks, from the same grid, three settings: the recency prior
alone (`gamma = 0`), the transition prior alone (`beta = 0`) and both (jointly). The test split
is then scored without priors and under each pick, in one replay. The table puts these rows
(mean ± standard deviation over a model's runs, i.e. its seeds) beside the simple baselines of
the same `compare` folder (successor counts, sequential rules, ...), whose numbers are read
from its `table.json`, and one more baseline computed here, `causal successor counts` (the
`livesuccessor` baseline of `compare`): the transition prior's own counts alone (the same pool: training pairs plus the evaluated view's
pairs strictly before each event), ties and unseen successors ordered by training popularity
as `successor` orders them. `successor` and `sr` count the training sessions only; the prior
also counts the test period's earlier pairs, as a live system would, so the causal counts are
the baseline with the same information as `+ transitions`.

Sources:

- `--workdir W`: a `benchmarks/bench_accuracy.py` work folder: every `W/DATASET/compare` with a
  `W/DATASET/prepared` dataset; its neural runs are the folders under `compare` holding a
  `model.keras` (the tuning trials left out);
- `--pair PREPARED:RUN[:NAME]` (repeatable): one run and its prepared dataset, grouped under
  NAME (default: the dataset folder's parent name). Baselines: `--baselines TABLE.json`
  (a compare table of the same dataset, optional).

Writes `OUT/runs.jsonl` (one line per run as it finishes; `--resume` skips the runs already
there), then `OUT/priors.json` and `OUT/priors.md` (atomically), and prints the table.

Usage:

    python benchmarks/priors_on_runs.py --workdir /work/runs/suite13 --out /tmp/priors-suite13 --resume
    python benchmarks/priors_on_runs.py --pair runs/drift/prepared:runs/drift/hiertcn/seed-1 --out /tmp/p
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VARIANTS = ("no prior", "+ recency", "+ transitions", "+ both")
BASELINES = ("successor", "sr", "iknn", "vsknn", "sknn", "recentpop", "pop")


def neural_runs(compare_dir):
    """The finished run folders under a compare folder (those holding `model.keras`), tuning trials
    and unfinished runs (`*.partial`) left out."""
    return sorted(p.parent for p in Path(compare_dir).rglob("model.keras")
                  if "trials" not in p.parts and not any(part.endswith(".partial") for part in p.parts))


def run_model(compare_dir, run):
    """The model name of a run folder of a compare folder (`MODEL-tune/best`, `MODEL.seed-S`, `MODEL/seed-S`)."""
    top = Path(run).relative_to(compare_dir).parts[0]
    return top.split(".seed-")[0].removesuffix("-tune")


def workdir_jobs(workdir, datasets=None, models=None):
    """`(dataset name, prepared dir, run dir, baseline table or None)` of every run of a work folder
    (of the given datasets and models only, when given)."""
    jobs = []
    for folder in sorted(Path(workdir).iterdir()):
        compare, prepared = folder / "compare", folder / "prepared"
        if not (compare.is_dir() and prepared.is_dir()) or (datasets and folder.name not in datasets):
            continue
        table = compare / "table.json"
        for run in neural_runs(compare):
            if models and run_model(compare, run) not in models:
                continue
            jobs.append((folder.name, prepared, run, table if table.is_file() else None))
    return jobs


def rescore(prepared, run_dir):
    """One run: the validation grid, the three picks and the test metrics of each (see the module)."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.recency_choice import choose_priors, pick_setting, score_grid
    from hiertcn_keras.training.trainer import load_run

    started = time.perf_counter()
    dataset = PreparedDataset(prepared)
    model, record = load_run(run_dir)
    recorded = model.model_config
    model.model_config = recorded.replace(recency_prior=True, recency_hours=None, recency_beta=None,
                                          transition_prior=True, transition_gamma=None)
    grid = choose_priors(model, dataset)["grid"]
    picks = {"no prior": next(r for r in grid if r["beta"] == 0 and r["gamma"] == 0),
             "+ recency": pick_setting([r for r in grid if r["gamma"] == 0])[0],
             "+ transitions": pick_setting([r for r in grid if r["beta"] == 0])[0],
             "+ both": pick_setting(grid)[0]}
    settings = {name: (r["hours"], r["beta"], r["gamma"]) for name, r in picks.items()}
    test, n_events = score_grid(model, dataset, list(dict.fromkeys(settings.values())), split="test")
    out = {"run": str(run_dir), "model": recorded.model, "seed": recorded.seed, "n_test": n_events,
           "recorded_recency": [recorded.recency_hours, recorded.recency_beta]}
    for name, key in settings.items():
        out[name] = {"hours": key[0], "beta": key[1], "gamma": key[2],
                     "valid": [picks[name]["recall@10"], picks[name]["mrr"]],
                     "test": [float(test[key]["recall@10"]), float(test[key]["mrr"])]}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def causal_counts(prepared, split="test"):
    """`causal successor counts` (the `livesuccessor` baseline) on a dataset's split: `(Recall@10, MRR, events)`."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.baselines import fit_baseline
    from hiertcn_keras.training.evaluate import evaluate_baseline

    dataset = PreparedDataset(prepared)
    result = evaluate_baseline(fit_baseline("livesuccessor", dataset), dataset, split, name="livesuccessor")
    return result["recall@10"], result["mrr"], result["n_events"]


def _cell(values):
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def baseline_rows(table_path):
    """`(model, Recall@10, MRR, events)` of the simple baselines in a compare `table.json`."""
    if table_path is None:
        return []
    rows = json.loads(Path(table_path).read_text())
    return [(r["model"], r["recall@10"], r["mrr"], r.get("n_events")) for r in rows
            if r.get("model") in BASELINES and isinstance(r.get("recall@10"), float)]


def format_table(results, baselines, causal=None):
    """Markdown: per dataset, each neural model's four variants, then the baselines."""
    lines = ["| dataset | model | runs | test Recall@10 | test MRR | events | chosen (hours, beta, gamma) per run |",
             "|---|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        runs = [r for r in results if r["dataset"] == dataset]
        for model in dict.fromkeys(r["model"] for r in runs):
            mine = [r for r in runs if r["model"] == model]
            for name in VARIANTS:
                chosen = "; ".join(f"{r[name]['hours'] if r[name]['hours'] is not None else '–'}, "
                                   f"{r[name]['beta']:g}, {r[name]['gamma']:g}" for r in mine)
                lines.append(f"| {dataset} | {model} {name} | {len(mine)} | {_cell([r[name]['test'][0] for r in mine])} | "
                             f"{_cell([r[name]['test'][1] for r in mine])} | {mine[0]['n_test']} | "
                             f"{chosen if name != 'no prior' else '–'} |")
        if causal and dataset in causal:
            recall, mrr, events = causal[dataset]
            lines.append(f"| {dataset} | causal successor counts (baseline) | det. | {recall:.4f} | {mrr:.4f} | "
                         f"{events} | – |")
        for model, recall, mrr, events in baselines.get(dataset, []):
            lines.append(f"| {dataset} | {model} (baseline) | det. | {recall:.4f} | {mrr:.4f} | {events} | – |")
    notes = ["Test split, full catalogue, conservative ties. Each neural run re-scored without retraining: the "
             "priors' weights chosen on its validation split (no-worse rule: neither validation Recall@10 nor MRR "
             "below the plain model's; weight 0 eligible). '+ both': recency and transition priors chosen jointly. "
             "mean ± sample standard deviation over a model's runs (seeds). Baselines: the compare folder's table."]
    return "\n".join(lines + [""] + notes)


def _write(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="a bench_accuracy.py work folder")
    parser.add_argument("--datasets", nargs="+", default=None, help="only these dataset folders of --workdir")
    parser.add_argument("--models", nargs="+", default=None, help="only the runs of these models of --workdir")
    parser.add_argument("--pair", action="append", default=[], metavar="PREPARED:RUN[:NAME]")
    parser.add_argument("--baselines", action="append", default=[], metavar="NAME:TABLE.json",
                        help="a compare table.json whose baselines join the rows of dataset NAME (with --pair)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--resume", action="store_true", help="skip the runs already in OUT/runs.jsonl")
    args = parser.parse_args(argv)

    jobs = workdir_jobs(args.workdir, args.datasets, args.models) if args.workdir else []
    for pair in args.pair:
        parts = pair.split(":")
        if len(parts) not in (2, 3):
            parser.error(f"--pair wants PREPARED:RUN[:NAME], got {pair!r}")
        name = parts[2] if len(parts) == 3 else Path(parts[0]).resolve().parent.name
        jobs.append((name, Path(parts[0]), Path(parts[1]), None))
    tables = {}
    for spec in args.baselines:
        name, _, path = spec.partition(":")
        tables[name] = Path(path)
    for name, _, _, table in jobs:
        if table is not None:
            tables.setdefault(name, table)
    if not jobs:
        parser.error("no runs: give --workdir or --pair")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    done = {}
    if args.resume and log.is_file():
        for line in log.read_text().splitlines():
            row = json.loads(line)
            done[row["run"]] = row
    elif log.exists():
        parser.error(f"{log} exists: add --resume, or give another --out")
    results = []
    for name, prepared, run, _ in jobs:
        if str(run) in done:
            results.append(done[str(run)])
            continue
        row = dict(rescore(prepared, run), dataset=name)
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        results.append(row)
    prepared_of = {name: prepared for name, prepared, _, _ in jobs}
    causal = {name: causal_counts(prepared) for name, prepared in prepared_of.items()}
    table = format_table(results, {name: baseline_rows(path) for name, path in tables.items()}, causal)
    _write(out / "priors.json", json.dumps(results, indent=1))
    _write(out / "priors.md", table + "\n")
    print(table)


if __name__ == "__main__":
    main()
