"""The `compare` table: several models × several seeds on one split, with uncertainty.

`compare_models` trains (through a caller-given function) and evaluates every model with each
seed, runs deterministic models once, and summarises each model with `seeds.summarise_seeds`.
`format_comparison` renders the rows as Markdown: mean ± standard deviation of each metric, the
number of scored events, coverage (scored targets / all targets, with a warning line below 50%),
epochs trained, best epoch, training time and a `↑` mark when the best epoch was the last one
(the model was still improving when training stopped). `write_comparison` saves
`table.json` and `table.md` atomically.
"""

from __future__ import annotations

from pathlib import Path

from hiertcn_keras.training.seeds import best_row, summarise_seeds

TABLE_METRICS = ("recall@10", "recall@20", "mrr", "ndcg@10")
LOW_COVERAGE = 0.5


def compare_models(models, seeds, *, run_neural, run_baseline, neural, n_targets, log=print):
    """Every model with every seed (deterministic baselines once).

    Args:
        models: sequence of model names.
        seeds: sequence of int seeds.
        run_neural: callable `(name, seed) -> dict`: the test metrics plus `train_seconds` and the
            keys of `convergence.convergence_summary` (`epochs_trained`, `best_epoch`,
            `still_improving`).
        run_baseline: callable `(name) -> dict` of metrics.
        neural: collection of the names that `run_neural` trains; every other name is a
            deterministic baseline.
        n_targets: int. All targets of the split (the coverage denominator).
        log: callable or `None`. One line per run. Defaults to `print`.

    Returns:
        list of rows (`seeds.summarise_seeds`), in `models` order.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    rows = []
    for name in models:
        if name in neural:
            runs = []
            for seed in seeds:
                result = dict(run_neural(name, seed), seed=seed)
                runs.append(result)
                if log:
                    log(f"{name} seed {seed}: Recall@10 {result['recall@10']:.4f}, MRR {result['mrr']:.4f}, "
                        f"{result.get('epochs_trained', '?')} epochs (best {result.get('best_epoch', '?')})")
            rows.append(summarise_seeds(name, runs, n_targets=n_targets))
        else:
            result = dict(run_baseline(name), seed=None)
            if log:
                log(f"{name} (deterministic, run once): Recall@10 {result['recall@10']:.4f}, MRR {result['mrr']:.4f}")
            rows.append(summarise_seeds(name, [result], n_targets=n_targets, deterministic=True))
    return rows


def _cell(row, key):
    mean, std = row.get(key), row.get(f"{key}_std")
    if not isinstance(mean, float):
        return "–"
    if std is None:
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def _list_cell(values):
    values = [v for v in (values or []) if v is not None]
    if not values:
        return "–"
    return "/".join(str(v) for v in values)


def display_name(row):
    """A row's name in the table: `MODEL + priors` when a seed's scores carried a prior (weight > 0).

    A neural model with the recency or transition prior is a hybrid of the network and counts
    (`hiertcn_keras.models.recency_prior`, `hiertcn_keras.models.transition_prior`); its row says so.
    """
    runs = row.get("runs") or [row]
    with_prior = any(run.get("recency_beta") or run.get("transition_gamma") for run in runs)
    return f"{row['model']} + priors" if with_prior else row["model"]


def format_comparison(rows, metrics=TABLE_METRICS, *, title=None, labels=()):
    """Markdown table of comparison rows, with the notes a reader needs below it.

    Args:
        rows: rows of `compare_models` (oracle or other rows need only `model` and metrics).
        metrics: metric keys shown as `mean ± std`. Defaults to Recall@10/20, MRR, NDCG@10.
        title: str or `None`. A heading line.
        labels: extra note lines (e.g. the budget: "untuned, 10 epochs").

    Returns:
        str.
    """
    header = ("| model | seeds | " + " | ".join(m + (" ↓" if m == "mrp" else "") for m in metrics)
              + " | events | coverage | epochs | best epoch | train s |")
    lines = ([f"### {title}", ""] if title else []) + [header, "|" + "---|" * (len(metrics) + 7)]
    for r in rows:
        seeds = "det." if r.get("deterministic") else str(r.get("n_seeds", "–"))
        mark = " ↑" if r.get("still_improving") else ""
        coverage = f"{r['coverage']:.1%}" if isinstance(r.get("coverage"), float) else "–"
        train_s = f"{r['train_seconds']:.0f}" if isinstance(r.get("train_seconds"), float) else "–"
        lines.append(
            f"| {display_name(r)}{mark} | {seeds} | " + " | ".join(_cell(r, m) for m in metrics)
            + f" | {r.get('n_events', '–')} | {coverage} | {_list_cell(r.get('epochs'))} | "
            f"{_list_cell(r.get('best_epoch'))} | {train_s} |"
        )
    first = next((r for r in rows if "protocol" in r), rows[0] if rows else {})
    notes = [f"protocol {first.get('protocol', '?')}, split {first.get('split', '?')}, full catalogue, "
             f"ties {first.get('tie_policy', '?')}, mean ± sample standard deviation over seeds."]
    if any(r.get("deterministic") for r in rows):
        notes.append("det.: a deterministic baseline, run once (standard deviation 0).")
    if any(r.get("still_improving") for r in rows):
        notes.append("↑: for at least one seed the best validation epoch was the last one: still improving when "
                     "training stopped (more epochs may help).")
    low = [r["model"] for r in rows if isinstance(r.get("coverage"), float) and r["coverage"] < LOW_COVERAGE]
    if low:
        notes.append(f"WARNING: fewer than half of the split's targets could be scored for {', '.join(low)} "
                     "(targets outside the training catalogue cannot be ranked).")
    best, clear = best_row([r for r in rows if "n_seeds" in r])
    if best is not None:
        notes.append(f"best Recall@10: {display_name(best)}" + (
            " (ahead of every other row by more than two standard deviations)." if clear
            else " (not ahead of every other row by two standard deviations: no clear winner)."))
    if any(display_name(r) != r["model"] for r in rows):
        notes.append("MODEL + priors: the network's scores plus count priors chosen on validation (recency "
                     "popularity and/or transition counts): a hybrid of the network and counts.")
    notes.extend(labels)
    return "\n".join(lines + [""] + notes)


def write_comparison(out_dir, rows, table):
    """Writes `out_dir/table.json` (the rows) and `out_dir/table.md` (the table), each atomically.

    Args:
        out_dir: str or Path.
        rows: list of dicts.
        table: str. The Markdown table.

    Returns:
        `(json_path, markdown_path)`.
    """
    from hiertcn_keras.artifacts import atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / "table.json", rows)
    with atomic.atomic_file(out / "table.md") as f:
        f.write(table + "\n")
    return out / "table.json", out / "table.md"
