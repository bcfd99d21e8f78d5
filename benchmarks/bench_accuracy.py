"""Accuracy benchmark (not a timed test): every model on six datasets, mean ± std over seeds.

Datasets (quick / full sizes; the synthetic ones differ from `hiertcn synth`'s defaults of
1,000 items, within-session successor probability 0.4 and 8 sessions per user):

| name           | source                                                                  |
|----------------|-------------------------------------------------------------------------|
| synth-5k-weak  | `synthetic.py`: 5,000 items, weaker order (p_successor 0.2), 3 sessions per user |
| synth-20k-strong | `synthetic.py`: 20,000 items, stronger order (p_successor 0.6), 10 sessions per user |
| synth-5k-strong-3 | `synthetic.py`: 5,000 items, stronger order (0.6), 3 sessions per user |
| drift          | `drift_synthetic.py` (defaults): drifting interests, repeats, item births |
| globo-paper    | the Globo.com development slice, the paper's user split                   |
| globo-temporal | the same slice, temporal split (most test articles are new: low coverage)  |

Each dataset runs `hiertcn compare --tune --seeds N` (the product's own comparison): every model
is tuned on the validation split with the same budget of `--trials` trials (neural models:
learning rate, dropout, weight decay, tying, embedding size; simple baselines: their own
parameters), the neural models' chosen settings are retrained with N seeds, and every model is
scored on the test split with full-catalogue ranks and conservative ties; coverage and the
generator's oracle (where known) are in the table. With `--recency-prior` (the default) the
neural models carry the causal recency-popularity prior, its window and weight chosen on
validation after training (`hiertcn_keras.models.recency_prior`), jointly with `compare`'s
transition-count prior (`hiertcn_keras.models.transition_prior`); the same runs are also scored
without them (`MODEL (no prior)` rows: `beta = gamma = 0`, no extra training).

Usage:

    python benchmarks/bench_accuracy.py --setting suite --globo-log globo_dev.csv.gz --resume
    python benchmarks/bench_accuracy.py --setting quick --datasets drift --models hiertcn successor
    python benchmarks/bench_accuracy.py --setting tuned --datasets drift --drift-users 900 --resume \
        --models hiertcn gru4rec successor sr iknn vsknn recentpop pop --workdir W
    python benchmarks/bench_accuracy.py --workdir W --datasets drift globo-paper \
        --export docs/results/accuracy_suite.json      # the compact summary, nothing run

Writes `WORKDIR/accuracy.json` and `WORKDIR/accuracy.md` (atomically) and prints the table.
Logs and prepared datasets are cached in WORKDIR (default `runs/bench_accuracy`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The Globo.com click log in the generic format (user_id,item_id,timestamp), from --globo-log;
# the two Globo datasets are skipped without it.
GLOBO = None
NEURAL = ("hiertcn", "gru", "gru4rec")
DATASETS = ("synth-5k-weak", "synth-20k-strong", "synth-5k-strong-3", "drift", "globo-paper", "globo-temporal")
SIMPLE = ("pop", "recentpop", "successor", "sr", "iknn", "sknn", "vsknn")
SETTINGS = {
    "quick": {"users": 300, "drift_users": 300, "globo_user_share": 16, "seeds": 1, "epochs": 3, "patience": 2,
              "trials": 1, "jit": False},
    "suite": {"users": 300, "drift_users": 400, "globo_user_share": 16, "seeds": 3, "epochs": 10, "patience": 2,
              "trials": 3, "jit": False},
    # Fair sizes for the neural models on a shared 2-core machine (docs/accuracy.md): synthetic
    # logs of 1,000 users, the drift generator with 2,000 users (about 58k events), 1/8 of the
    # Globo.com users (about 1,600 users, 29k clicks); one trial (every model's defaults: an
    # equal budget), converged (at most 15 epochs, patience 2).
    "fair": {"users": 1000, "drift_users": 2000, "globo_user_share": 8, "seeds": 1, "epochs": 15, "patience": 2,
             "trials": 1, "jit": False},
    # The tuned, multi-seed suite sized for about 100 minutes of two processes on the shared
    # 2-core machine (docs/accuracy.md, "tuned"): 3 trials per model (its defaults + 2 TPE), the
    # neural models' chosen settings with 3 seeds, at most 15 epochs, patience 2; synthetic logs
    # of 1,000 users (synth-20k-strong, 10 sessions per user: 250), the drift generator with
    # 900 users, 1/16 of the Globo.com users.
    "tuned": {"users": 1000, "drift_users": 900, "globo_user_share": 16, "seeds": 3, "epochs": 15, "patience": 2,
              "trials": 3, "jit": False, "users_by_dataset": {"synth-20k-strong": 250}},
    "full": {"users": 3000, "drift_users": 3000, "globo_user_share": 1, "seeds": 3, "epochs": 50, "patience": 3,
             "trials": 10},
}


def _synthetic(name, users):
    from hiertcn_keras.data.synthetic import SyntheticConfig

    options = {
        "synth-5k-weak": dict(n_items=5000, p_successor=0.2, mean_sessions=3.0),
        "synth-20k-strong": dict(n_items=20000, p_successor=0.6, mean_sessions=10.0),
        "synth-5k-strong-3": dict(n_items=5000, p_successor=0.6, mean_sessions=3.0),
    }[name]
    return SyntheticConfig(n_users=users, seed=17, **options)


def synthetic_users(name, setting):
    """The number of users of synthetic dataset `name` under `setting` (`users_by_dataset` first)."""
    return setting.get("users_by_dataset", {}).get(name, setting["users"])


def build_dataset(name, workdir, setting):
    """Generates (or reuses) the log of `name` and prepares it.

    Returns:
        `(prepared_dir, oracle_log or None)`.
    """
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import PrepareConfig, prepare

    folder = Path(workdir) / name
    log, prepared = folder / "log.csv", folder / "prepared"
    stamp = folder / "settings.json"
    wanted = json.dumps({"name": name, **setting}, sort_keys=True)
    if prepared.is_dir() and stamp.is_file() and stamp.read_text() == wanted:
        return prepared, (log if not name.startswith("globo") else None)
    folder.mkdir(parents=True, exist_ok=True)
    protocol = "temporal"
    if name.startswith("synth"):
        from hiertcn_keras.data.synthetic import generate
        from hiertcn_keras.data.synthetic_io import save

        save(generate(_synthetic(name, synthetic_users(name, setting))), log)
    elif name == "drift":
        from hiertcn_keras.data.drift_synthetic import DriftConfig, generate_drift
        from hiertcn_keras.data.drift_synthetic_io import save_drift

        save_drift(generate_drift(DriftConfig(n_users=setting["drift_users"], n_items=5000)), log)
    else:
        import pandas as pd

        frame = pd.read_csv(GLOBO)
        share = setting["globo_user_share"]
        frame = frame[(frame["user_id"] // 10) % share == 0]  # a fixed subset of users (quick: 1/8; full: all)
        frame.to_csv(log, index=False)
        protocol = name.split("-")[1]
    prepare(load(log, "generic"), PrepareConfig(protocol=protocol)).write(prepared)
    stamp.write_text(wanted)
    return prepared, (log if not name.startswith("globo") else None)


def compare_argv(prepared, out, models, setting, oracle_log=None, recency=True, residual=False):
    """The `hiertcn compare` command line of one dataset."""
    argv = ["compare", "--data", str(prepared), "--models", *models, "--out", str(out), "--tune",
            "--trials", str(setting["trials"]), "--seeds", str(setting["seeds"]), "--epochs", str(setting["epochs"]),
            "--patience", str(setting["patience"]), "--quiet"]
    if not setting.get("jit", True):
        argv.append("--no-jit")  # small logs: a few steps per epoch cost less than compiling each run
    argv.append("--recency-prior" if recency else "--no-recency-prior")  # compare's default: on
    if residual:
        argv.append("--last-item-residual")
    if oracle_log is not None:
        argv += ["--oracle-log", str(oracle_log)]
    return argv


def seed_runs(out, model, seeds):
    """The run directories of a tuned model's seeds in a `compare --tune` folder (first: the search's)."""
    out = Path(out)
    return [out / f"{model}-tune" / "best"] + [out / f"{model}.seed-{s}" for s in seeds[1:]]


def without_prior(out, row, dataset):
    """A neural row's runs scored again with the priors' weights set to 0 (the plain model)."""
    from hiertcn_keras.training.evaluate import evaluate_recommender
    from hiertcn_keras.training.seeds import summarise_seeds
    from hiertcn_keras.training.trainer import load_run

    runs = []
    for run_dir, result in zip(seed_runs(out, row["model"], row["seeds"]), row["runs"]):
        model, _ = load_run(run_dir)
        config = model.model_config
        model.model_config = config.replace(**({"recency_beta": 0.0} if config.recency_prior else {}),
                                            **({"transition_gamma": 0.0} if config.transition_prior else {}))
        plain = evaluate_recommender(model, dataset, "test")
        runs.append(dict(plain, **{k: result[k] for k in ("seed", "epochs_trained", "best_epoch", "still_improving",
                                                          "train_seconds") if k in result}))
    return summarise_seeds(f"{row['model']} (no prior)", runs, n_targets=row["n_targets"])


def run_dataset(name, workdir, setting, models, recency=True, log=print, residual=False):
    from hiertcn_keras import cli
    from hiertcn_keras.data.dataset import PreparedDataset

    prepared, oracle_log = build_dataset(name, workdir, setting)
    dataset = PreparedDataset(prepared)
    log(f"== {name}: {len(dataset.events['item']):,} events, {dataset.n_users:,} users, catalogue "
        f"{dataset.n_catalogue:,}, protocol {dataset.protocol}", flush=True)
    out = Path(workdir) / name / "compare"
    started = time.perf_counter()
    if cli.main(compare_argv(prepared, out, models, setting, oracle_log, recency, residual)) != 0:
        raise SystemExit(f"compare failed on {name}")
    rows = json.loads((out / "table.json").read_text())
    if recency:
        plain = [without_prior(out, r, dataset) for r in rows if r.get("model") in NEURAL]
        rows = rows[: len(plain)] + plain + rows[len(plain):] if plain else rows
    for row in rows:
        row["dataset"] = name
        row.pop("runs", None)
    log(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def _cell(row, key):
    mean, std = row.get(key), row.get(f"{key}_std")
    if not isinstance(mean, float):
        return "–"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def format_table(rows, labels):
    """One Markdown table, one row per (dataset, model); best mean Recall@10 per dataset in bold."""
    from hiertcn_keras.training.seeds import best_row

    lines = ["| dataset | model | seeds | Recall@10 | MRR | events | coverage | epochs | best epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == dataset]
        models = [r for r in group if "n_seeds" in r]
        best, clear = best_row(models)
        for r in group:
            seeds = "det." if r.get("deterministic") else str(r.get("n_seeds", "–"))
            name = r["model"] + (" ↑" if r.get("still_improving") else "")
            if best is not None and r is best:
                name = f"**{name}**"
            cov = r.get("coverage")
            if cov is None and r.get("n_targets"):
                cov = r["n_events"] / r["n_targets"]
            lines.append(
                f"| {dataset} | {name} | {seeds if 'n_seeds' in r else '–'} | {_cell(r, 'recall@10')} | "
                f"{_cell(r, 'mrr')} | {r.get('n_events', '–')} | {f'{cov:.1%}' if cov is not None else '–'} | "
                f"{'/'.join(str(e) for e in r.get('epochs', [])) or '–'} | "
                f"{'/'.join(str(e) for e in r.get('best_epoch', []) if e is not None) or '–'} |")
        if best is not None:
            notes.append(f"{dataset}: best Recall@10 {best['model']}"
                         + (" (ahead of every other model by > 2 std)" if clear else " (no clear winner at 2 std)"))
        if any(isinstance(r.get("coverage"), float) and r["coverage"] < 0.5 for r in models):
            notes.append(f"{dataset}: WARNING: fewer than half of the test targets can be scored (coverage < 50%).")
    notes.append("det.: deterministic baseline, run once (std 0). ↑: best validation epoch = last epoch "
                 "(still improving when training stopped). Full catalogue, conservative ties, test split.")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes + list(labels)])


# The row fields kept in the committed summary (docs/results/accuracy_suite.json).
SUMMARY_KEYS = ("model", "n_seeds", "seeds", "deterministic", "recall@10", "recall@10_std", "mrr", "mrr_std",
                "recall@1", "recall@20", "ndcg@10", "n_events", "n_targets", "coverage", "epochs", "best_epoch",
                "still_improving", "train_seconds")


def chosen_settings(out, model):
    """The tuned setting of `model` in a `compare --tune` folder: the best trial's parameters and,
    for the neural models, each seed's recency window and weight (`{}` when nothing is recorded)."""
    trials = Path(out) / f"{model}-tune" / "trials.json"
    chosen = {}
    if trials.is_file():
        done = [t for t in json.loads(trials.read_text()) if t.get("state") == "COMPLETE" and t.get("value") is not None]
        if done:
            best = max(done, key=lambda t: t["value"])
            chosen = {"trial": best["number"], "validation": best["value"], "params": best.get("params", {}),
                      "trials": len(done)}
    if model in NEURAL:
        priors = []
        for run_dir in [Path(out) / f"{model}-tune" / "best", *sorted(Path(out).glob(f"{model}.seed-*"))]:
            config = run_dir / "config.json"
            if config.is_file():
                values = json.loads(config.read_text())["model"]
                priors.append({"run": run_dir.relative_to(out).as_posix(), "recency_hours": values.get("recency_hours"),
                               "recency_beta": values.get("recency_beta"),
                               "last_item_residual": values.get("last_item_residual")})
        chosen["runs"] = priors
    return chosen


def verdict(rows, model="hiertcn", metrics=("recall@10", "mrr")):
    """HierTCN against the best simple baseline (per metric) and every other neural model.

    A gap counts only beyond two standard deviations of the difference (`seeds.winner`).

    Returns:
        dict: per metric a list of `{"against", "gap", "outcome"}` (`win`, `tie` or `lose`),
        `overall` (`wins`: every comparison won; `loses`: any lost; else `ties`) and
        `oracle_share` (HierTCN's Recall@10 over the oracle's, `None` without an oracle).
    """
    from hiertcn_keras.training.seeds import winner

    ours = next((r for r in rows if r["model"] == model), None)
    if ours is None:
        return {}
    simple = [r for r in rows if r.get("deterministic")]
    neural = [r for r in rows if "n_seeds" in r and not r.get("deterministic") and r["model"] != model
              and not r["model"].endswith("(no prior)")]
    out, outcomes = {}, []
    for metric in metrics:
        against = ([max(simple, key=lambda r: r.get(metric, -1.0))] if simple else []) + neural
        out[metric] = []
        for other in against:
            name = winner(ours, other, metric)
            outcome = "win" if name == model else "lose" if name == other["model"] else "tie"
            out[metric].append({"against": other["model"], "gap": ours[metric] - other[metric], "outcome": outcome})
            outcomes.append(outcome)
    out["overall"] = ("wins" if outcomes and all(o == "win" for o in outcomes)
                      else "loses" if "lose" in outcomes else "ties")
    oracle = next((r for r in rows if r["model"].startswith("oracle")), None)
    out["oracle_share"] = ours["recall@10"] / oracle["recall@10"] if oracle and oracle.get("recall@10") else None
    return out


def suite_summary(workdir, datasets):
    """The compact, machine-readable suite: per finished dataset its size, rows, chosen settings
    and HierTCN's verdict (`verdict`). Datasets without `rows.json` are left out."""
    from hiertcn_keras.data.dataset import PreparedDataset

    summary = []
    for name in datasets:
        folder = Path(workdir) / name
        saved = folder / "rows.json"
        if not saved.is_file():
            continue
        stored = json.loads(saved.read_text())
        dataset = PreparedDataset(folder / "prepared")
        sizes = json.loads((folder / "settings.json").read_text())
        rows = [{k: r[k] for k in SUMMARY_KEYS if k in r} for r in stored["rows"]]
        for row in rows:
            base = row["model"].removesuffix(" (no prior)")
            if not row["model"].endswith("(no prior)") and (row.get("n_seeds") or row.get("deterministic")):
                row["chosen"] = chosen_settings(folder / "compare", base)
        users = (synthetic_users(name, sizes) if name.startswith("synth") else sizes["drift_users"]
                 if name == "drift" else f"1/{sizes['globo_user_share']} of the slice")
        summary.append({"dataset": name, "users_setting": users, "events": int(len(dataset.events["item"])),
                        "users": int(dataset.n_users), "catalogue": int(dataset.n_catalogue),
                        "protocol": dataset.protocol, "budget": stored["stamp"], "rows": rows,
                        "verdict": verdict(rows)})
    return summary


def _summary_cell(row, key):
    """`mean ± std`, or the mean alone for a deterministic baseline (std 0 by construction)."""
    if row.get("deterministic") and isinstance(row.get(key), float):
        return f"{row[key]:.4f}"
    return _cell(row, key)


def summary_markdown(summary):
    """The suite table of docs/accuracy.md from `suite_summary`'s output."""
    lines = ["| dataset | model | Recall@10 | MRR | seeds | scored events (coverage) | epochs (best) |",
             "|---|---|---|---|---|---|---|"]
    for entry in summary:
        for r in entry["rows"]:
            seeds = "det." if r.get("deterministic") else str(r.get("n_seeds", "–"))
            cov = f"{r['n_events']:,} ({r['coverage']:.1%})" if r.get("coverage") is not None else "–"
            epochs = (" / ".join(f"{e} ({b})" for e, b in zip(r["epochs"], r["best_epoch"]))
                      if r.get("epochs") else "–")
            lines.append(f"| {entry['dataset']} ({entry['users']:,} users) | {r['model']} | {_summary_cell(r, 'recall@10')} | "
                         f"{_summary_cell(r, 'mrr')} | "
                         f"{seeds if 'n_seeds' in r else '–'} | {cov} | {epochs} |")
    return "\n".join(lines)


def export_summary(workdir, datasets, path, also=()):
    """Writes `suite_summary` to `path` (JSON, atomically) and returns the Markdown table.

    Args:
        also: `WORKDIR:DATASET` strings: finished datasets of other work folders (e.g. a larger
            size of the same log), appended after `datasets`.
    """
    from hiertcn_keras.artifacts import atomic

    summary = suite_summary(workdir, datasets)
    for extra in also:
        other, _, name = extra.rpartition(":")
        summary += suite_summary(other, [name])
    atomic.write_json(path, {"about": "tuned, multi-seed accuracy suite (benchmarks/bench_accuracy.py); test "
                             "split, full catalogue, conservative ties; mean and std over seeds",
                             "datasets": summary})
    return summary_markdown(summary)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", choices=tuple(SETTINGS), default="suite",
                        help="sizes and budget (see SETTINGS; default suite)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"default: {' '.join(NEURAL + SIMPLE)}")
    parser.add_argument("--seeds", type=int, default=None, help="override the setting's seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override the setting's maximum epochs")
    parser.add_argument("--trials", type=int, default=None, help="override the setting's trials per model")
    parser.add_argument("--users", type=int, default=None,
                        help="override the users of every synthetic log (not the drift generator's)")
    parser.add_argument("--drift-users", type=int, default=None, help="override the drift generator's users")
    parser.add_argument("--globo-share", type=int, default=None,
                        help="override the Globo.com user share: keep users with (user_id // 10) %% SHARE == 0")
    parser.add_argument("--no-recency-prior", action="store_true",
                        help="train the neural models without the recency prior")
    parser.add_argument("--last-item-residual", action="store_true",
                        help="HierTCN/HierGRU with the last-item residual path (compare --last-item-residual)")
    parser.add_argument("--globo-log", default=None,
                        help="a Globo.com click log in the generic format (user_id,item_id,timestamp); "
                        "the globo-* datasets are skipped without it")
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "bench_accuracy"))
    parser.add_argument("--export", default=None, metavar="JSON",
                        help="run nothing: write the finished datasets of WORKDIR (those of --datasets with a "
                        "rows.json) as one compact JSON summary with HierTCN's verdicts, and print its table")
    parser.add_argument("--also", nargs="+", default=(), metavar="WORKDIR:DATASET",
                        help="with --export: finished datasets of other work folders, added after --datasets")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the rows of datasets already finished with the same setting and models")
    args = parser.parse_args(argv)
    global GLOBO
    GLOBO = Path(args.globo_log) if args.globo_log else None
    if args.export:
        print(export_summary(args.workdir, args.datasets, args.export, args.also))
        return

    from hiertcn_keras.artifacts import atomic
    from hiertcn_keras.models.baselines import NAMES

    setting = dict(SETTINGS[args.setting])
    for key in ("seeds", "epochs", "trials"):
        if getattr(args, key):
            setting[key] = getattr(args, key)
    if args.users:
        setting["users"], setting["users_by_dataset"] = args.users, {}
    for key, value in (("drift_users", args.drift_users), ("globo_user_share", args.globo_share)):
        if value:
            setting[key] = value
    models = args.models or list(NEURAL) + list(SIMPLE)
    unknown = [m for m in models if m not in NEURAL and m not in NAMES]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(NEURAL) + list(NAMES)}")
    recency = not args.no_recency_prior
    started = time.perf_counter()
    rows, table = [], ""
    out = Path(args.workdir)
    for name in args.datasets:
        if name.startswith("globo") and (GLOBO is None or not GLOBO.is_file()):
            print(f"skipping {name}: no Globo.com log (pass --globo-log PATH)")
            continue
        # Each dataset's rows are kept with the settings and models that produced them; --resume
        # reuses them, so a long run killed half-way loses one dataset at most.
        saved, stamp = out / name / "rows.json", {"setting": setting, "models": models, "recency": recency}
        if args.last_item_residual:
            stamp["residual"] = True
        if args.resume and saved.is_file() and json.loads(saved.read_text())["stamp"] == stamp:
            rows.extend(json.loads(saved.read_text())["rows"])
            print(f"== {name}: reusing {saved}")
        else:
            new_rows = run_dataset(name, args.workdir, setting, models, recency, residual=args.last_item_residual)
            atomic.write_json(saved, {"stamp": stamp, "rows": new_rows})
            rows.extend(new_rows)
        labels = [f"budget: every model tuned on validation Recall@10 with at most {setting['trials']} trials "
                  f"(the first: its defaults), the neural models' chosen settings retrained with {setting['seeds']} "
                  f"seed(s), at most {setting['epochs']} epochs with early stopping (patience {setting['patience']}); "
                  f"setting {args.setting}: synthetic logs {setting['users']} users"
                  + "".join(f" ({k}: {v})" for k, v in setting.get("users_by_dataset", {}).items())
                  + f", drift {setting['drift_users']} "
                  f"users, Globo users 1/{setting['globo_user_share']} of the slice."]
        if recency:
            labels.append("neural rows: with the recency prior (window and weight chosen on validation); "
                          "'(no prior)': the same runs scored with weight 0.")
        table = format_table(rows, labels)
        atomic.write_json(out / "accuracy.json", {"setting": setting, "rows": rows})
        with atomic.atomic_file(out / "accuracy.md") as f:  # rewritten after every dataset
            f.write(table + "\n")
    print(table)
    print(f"wall time {time.perf_counter() - started:.0f} s")
    print("JSON " + json.dumps({"setting": setting, "n_rows": len(rows)}))


if __name__ == "__main__":
    main()
