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

Every neural model is trained on the training split with early stopping on validation
Recall@10 (best weights restored) and evaluated on the test split with full-catalogue ranks and
conservative ties; every simple baseline (`models/baselines.py`) is fitted on the training
split and evaluated on the same events, once (they are deterministic). The oracle row (the
generator's true next-click distribution) is added where it is known. Budget: fixed settings,
**untuned** (the same for every dataset), labelled as such in the table.

Usage:

    python benchmarks/bench_accuracy.py --quick                 # small sizes, 1 seed, 3 epochs
    python benchmarks/bench_accuracy.py                         # full: 3 seeds, up to 30 epochs
    python benchmarks/bench_accuracy.py --quick --datasets drift globo-paper --models hiertcn successor \
        --globo-log globo_dev.csv.gz

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
NEURAL = ("hiertcn", "gru")
DATASETS = ("synth-5k-weak", "synth-20k-strong", "synth-5k-strong-3", "drift", "globo-paper", "globo-temporal")
SETTINGS = {
    "quick": {"users": 500, "drift_users": 600, "globo_user_share": 8, "seeds": 1, "epochs": 3, "patience": 2},
    "full": {"users": 3000, "drift_users": 3000, "globo_user_share": 1, "seeds": 3, "epochs": 30, "patience": 3},
}


def _synthetic(name, users):
    from hiertcn_keras.data.synthetic import SyntheticConfig

    options = {
        "synth-5k-weak": dict(n_items=5000, p_successor=0.2, mean_sessions=3.0),
        "synth-20k-strong": dict(n_items=20000, p_successor=0.6, mean_sessions=10.0),
        "synth-5k-strong-3": dict(n_items=5000, p_successor=0.6, mean_sessions=3.0),
    }[name]
    return SyntheticConfig(n_users=users, seed=17, **options)


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

        save(generate(_synthetic(name, setting["users"])), log)
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


def train_neural(prepared, model, seed, run_dir, setting, overrides):
    """Trains one neural model; returns its test metrics with the training facts."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.convergence import convergence_summary
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    dataset = PreparedDataset(prepared)
    config = model_config_for(dataset, model=model, seed=seed, **overrides)
    train_config = TrainConfig(epochs=setting["epochs"], patience=setting["patience"], seed=seed, verbose=0)
    started = time.perf_counter()
    _, history, metrics = train(prepared, config, train_config, run_dir)
    return dict(metrics, train_seconds=time.perf_counter() - started, **convergence_summary(history, "recall@10", setting["epochs"]))


def run_dataset(name, workdir, setting, models, overrides, log=print):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.baselines import fit_baseline
    from hiertcn_keras.training.comparison import compare_models
    from hiertcn_keras.training.evaluate import evaluate_baseline
    from hiertcn_keras.training.seeds import split_targets

    prepared, oracle_log = build_dataset(name, workdir, setting)
    dataset = PreparedDataset(prepared)
    log(f"== {name}: {len(dataset.events['item']):,} events, catalogue {dataset.n_catalogue:,}, "
        f"protocol {dataset.protocol}")
    runs = Path(workdir) / name / "runs"

    def run_neural(model, seed):
        return train_neural(prepared, model, seed, runs / f"{model}-seed{seed}", setting, overrides)

    def run_baseline(model):
        return evaluate_baseline(fit_baseline(model, dataset), dataset, "test", name=model)

    rows = compare_models(models, range(setting["seeds"]), run_neural=run_neural, run_baseline=run_baseline,
                          neural=NEURAL, n_targets=split_targets(dataset, "test"), log=log)
    if oracle_log is not None:
        from hiertcn_keras.data.oracle import oracle_for_split

        oracle = oracle_for_split(oracle_log, dataset, "test")
        rows.append(dict(oracle, model="oracle (generator)", n_targets=split_targets(dataset, "test")))
    for row in rows:
        row["dataset"] = name
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 seed, 3 epochs")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=None,
                        help="default: hiertcn, gru and every simple baseline")
    parser.add_argument("--seeds", type=int, default=None, help="override the setting's seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override the setting's maximum epochs")
    parser.add_argument("--globo-log", default=None,
                        help="a Globo.com click log in the generic format (user_id,item_id,timestamp); "
                        "the globo-* datasets are skipped without it")
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "bench_accuracy"))
    parser.add_argument("--resume", action="store_true",
                        help="reuse the rows of datasets already finished with the same setting and models")
    args = parser.parse_args(argv)
    global GLOBO
    GLOBO = Path(args.globo_log) if args.globo_log else None

    from hiertcn_keras.artifacts import atomic
    from hiertcn_keras.models.baselines import NAMES

    setting = dict(SETTINGS["quick" if args.quick else "full"])
    if args.seeds:
        setting["seeds"] = args.seeds
    if args.epochs:
        setting["epochs"] = args.epochs
    models = args.models or list(NEURAL) + list(NAMES)
    unknown = [m for m in models if m not in NEURAL and m not in NAMES]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(NEURAL) + list(NAMES)}")
    overrides = {}
    started = time.perf_counter()
    rows = []
    out = Path(args.workdir)
    for name in args.datasets:
        if name.startswith("globo") and (GLOBO is None or not GLOBO.is_file()):
            print(f"skipping {name}: no Globo.com log (pass --globo-log PATH)")
            continue
        # Each dataset's rows are kept with the settings and models that produced them; --resume
        # reuses them, so a long run killed half-way loses one dataset at most.
        saved, stamp = out / name / "rows.json", {"setting": setting, "models": models}
        if args.resume and saved.is_file() and json.loads(saved.read_text())["stamp"] == stamp:
            rows.extend(json.loads(saved.read_text())["rows"])
            print(f"== {name}: reusing {saved}")
        else:
            new_rows = run_dataset(name, args.workdir, setting, models, overrides)
            atomic.write_json(saved, {"stamp": stamp, "rows": new_rows})
            rows.extend(new_rows)
        labels = [f"budget: untuned (fixed default settings for every dataset; no hyper-parameter search), "
                  f"{'quick' if args.quick else 'full'} setting: {setting['seeds']} seed(s), at most "
                  f"{setting['epochs']} epochs with early stopping (patience {setting['patience']}) on validation "
                  f"Recall@10; synthetic logs {setting['users']} users, drift {setting['drift_users']} users, "
                  f"Globo users 1/{setting['globo_user_share']} of the slice."]
        table = format_table(rows, labels)
        atomic.write_json(out / "accuracy.json", {"setting": setting, "rows": rows})
        with atomic.atomic_file(out / "accuracy.md") as f:  # rewritten after every dataset
            f.write(table + "\n")
    print(table)
    print(f"wall time {time.perf_counter() - started:.0f} s")
    print("JSON " + json.dumps({"setting": setting, "n_rows": len(rows)}))


if __name__ == "__main__":
    main()
