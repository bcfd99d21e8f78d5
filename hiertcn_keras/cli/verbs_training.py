"""The model verbs: `train`, `evaluate`, `compare`."""

from __future__ import annotations

import textwrap

from hiertcn_keras.cli.common import (
    NEURAL,
    SIMPLE,
    add_model_options,
    add_overwrite,
    formatter,
    model_overrides,
    schedule_overrides,
)
from hiertcn_keras.cli.test_log import add_test_log_options, evaluate_test_log
from hiertcn_keras.cli.verbs_tuning import (
    add_budget_options,
    baseline_result,
    budget_label,
    neural_result,
    table_warnings,
    train_with_refit,
)

ORDER = 20


def register(sub):
    """Adds this module's verbs to the subparsers `sub`."""
    _add_train(sub)
    _add_evaluate(sub)
    _add_compare(sub)


def _add_train(sub):
    p = sub.add_parser(
        "train",
        help="train a neural model and write its run directory",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Train HierTCN or a neural baseline on a prepared dataset with queue-based batches
            (each row's high-level state carried between batches, reset at user starts),
            full-catalogue validation every epoch, early stopping on --monitor with the best
            weights restored, and checkpoints: a killed run started again with the same
            command resumes from RUN_DIR.partial/backup. Writes RUN_DIR/model.keras,
            config.json, history.json, metrics.json (test split) and TensorBoard logs, atomically."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn train --data prepared --model hiertcn --out runs/hiertcn --epochs 10
              hiertcn train --data prepared --model gru --out runs/gru
              hiertcn train --data prepared --model hiertcn --item-space pretrained \\
                  --item-embeddings items.npy --loss nce --out runs/hiertcn-nce
              hiertcn train --data prepared --model hiertcn --out runs/hiertcn --strategy mirrored
              # on every machine of the cluster, with its own TF_CONFIG (docs/distributed.md):
              TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}' \\
                  hiertcn train --data /shared/prepared --model hiertcn --out /shared/runs/hiertcn \\
                  --strategy multi-worker --batch-size 64"""
        ),
    )
    p.add_argument("--data", metavar="DIR", default=None,
                   help="prepared dataset folder (with --test-log: the run's, default the path it recorded)")
    p.add_argument("--model", choices=NEURAL, default="hiertcn", help="model (default hiertcn)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    add_overwrite(p, "run directory (also: discard a leftover RUN_DIR.partial checkpoint of other settings)")
    add_model_options(p)
    p.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"), default="default",
                   help="default: one device; mirrored: every local GPU (or logical CPU device); "
                   "multi-worker: the machines of TF_CONFIG, each running this same command, worker K>0 "
                   "writing RUN_DIR.worker-K (docs/distributed.md). --batch-size stays the global batch, "
                   "split evenly over the replicas")
    p.add_argument("--refit", action="store_true", help="choose the epochs on validation (RUN_DIR.selection), then "
                   "retrain on training + validation for that many epochs (RUN_DIR, data in RUN_DIR.refit-data) "
                   "and score the test split: items first seen in validation become rankable")
    p.set_defaults(func=cmd_train)


def _add_evaluate(sub):
    p = sub.add_parser(
        "evaluate",
        help="full-catalogue ranking metrics of a trained run or a simple baseline",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Rank every scored target of a split against the whole catalogue (items seen in
            training) and report Recall@1/5/10/20, MRR, MRP and NDCG@10. Ties count against the
            model by default (--tie-policy conservative); `optimistic` is the official code's.

            --test-log scores a held-out log of your own instead (a run only; read with the same
            flags as `prepare`), prepared with the run's vocabulary and session settings: events
            of unknown items are removed and counted, items never seen in training are inputs but
            not scored, each user starts from the zero state; the coverage is reported."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn evaluate --data prepared --run runs/hiertcn --out hiertcn-test.json
              hiertcn evaluate --data prepared --model mv --out mv.json
              hiertcn evaluate --data prepared --model sknn --split valid --averaging user --out sknn.json
              hiertcn evaluate --run runs/hiertcn --test-log my-test.csv --out my-test.json"""
        ),
    )
    p.add_argument("--data", metavar="DIR", default=None,
                   help="prepared dataset folder (with --test-log: the run's, default the path it recorded)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--run", metavar="RUN_DIR", help="a run directory written by `hiertcn train`")
    who.add_argument("--model", choices=SIMPLE, help="a simple baseline")
    p.add_argument("--split", choices=("valid", "test"), default="test", help="default test")
    p.add_argument("--tie-policy", choices=("conservative", "optimistic", "average"), default="conservative")
    p.add_argument("--averaging", choices=("event", "user"), default="event", help="default event (micro)")
    p.add_argument("--item-embeddings", metavar="PATH", default=None, help="item vectors for mv/maxitem: an embedding store or a .npy matrix")
    p.add_argument("--out", metavar="FILE.json", default=None, help="write the metrics here")
    add_test_log_options(p)
    from hiertcn_keras.cli.fresh import add_rolling_options

    add_rolling_options(p)
    p.set_defaults(func=cmd_evaluate)


def _add_compare(sub):
    p = sub.add_parser(
        "compare",
        help="train/evaluate several models on one dataset and print the paper-style table",
        formatter_class=formatter,
        description="Train every neural model named (into OUT/MODEL), evaluate it and every simple baseline "
        "on the same split, and print and save (OUT/table.md, OUT/table.json) the table: mean ± standard "
        "deviation over --seeds, scored events, coverage (scored / all targets; a warning below 50%), epochs "
        "trained, best epoch, training time and a ↑ mark where the best epoch was the last (still improving).",
        epilog=textwrap.dedent(
            """\
            example:
              hiertcn compare --data prepared --models hiertcn hiergru hrnn tcn gru mv maxitem pop sknn \\
                  --epochs 10 --out runs/compare
              hiertcn compare --data prepared --models hiertcn gru successor sr iknn vsknn recentpop \\
                  --seeds 3 --out runs/compare-3seeds"""
        ),
    )
    p.add_argument("--data", metavar="DIR", default=None,
                   help="prepared dataset folder (with --test-log: the run's, default the path it recorded)")
    p.add_argument("--models", nargs="+", choices=NEURAL + SIMPLE, default=list(NEURAL + SIMPLE))
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the runs and the table")
    add_overwrite(p, "compare folder")
    p.add_argument("--split", choices=("valid", "test"), default="test")
    p.add_argument("--tie-policy", choices=("conservative", "optimistic", "average"), default="conservative")
    p.add_argument("--oracle-log", metavar="LOG.csv", default=None,
                   help="a log written by `hiertcn synth`: add the generator's oracle (upper bound) row")
    p.add_argument("--tune", action="store_true", help="tune every model on the validation split first, with the "
                   "same budget (--trials, --timeout); simple baselines tune their own parameters (docs/tuning.md)")
    p.add_argument("--refit", action="store_true", help="after choosing on validation, retrain (refit) every model "
                   "on training + validation before the test split (data in OUT/refit-data)")
    add_budget_options(p)
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="train every neural model with N seeds (--seed, --seed + 1, ...; runs in OUT/MODEL/seed-S "
                   "when N > 1) and report mean ± standard deviation; simple baselines are deterministic and run "
                   "once. With --tune each model is tuned once (seed --seed) and the chosen setting is retrained "
                   "with the other seeds (OUT/MODEL.seed-S) (default 1)")
    add_model_options(p, recency_default=True)
    p.set_defaults(func=cmd_compare)


def _train_one(args, model, out, seed=None):
    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    output_guard.check_output(out, "run", inputs=_inputs(args), overwrite=args.overwrite)
    dataset = PreparedDataset(args.data)
    matrix = None
    if args.item_space == "pretrained":
        if not args.item_embeddings:
            raise ValueError("--item-space pretrained needs --item-embeddings PATH (.npy)")
        matrix = load_item_vectors(args.item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    seed = args.seed if seed is None else seed
    config = model_config_for(dataset, **dict(model_overrides(args, model), seed=seed))
    train_config = TrainConfig(epochs=args.epochs, patience=args.patience, monitor=args.monitor, seed=seed,
                               jit_compile=False if args.no_jit else "auto", verbose=2 if args.quiet else 1,
                               strategy=getattr(args, "strategy", "default"),
                               memory_check=not args.no_memory_check,
                               time_limit=None if args.time_limit is None else 60.0 * args.time_limit,
                               **schedule_overrides(args))
    _, history, metrics = train(args.data, config, train_config, out, item_matrix=matrix, overwrite=args.overwrite)
    return metrics


def _inputs(args):
    """The paths a training or evaluation command reads (an output may not touch them)."""
    return [getattr(args, name, None) for name in ("data", "item_embeddings", "run", "oracle_log")]


def cmd_train(args):
    from hiertcn_keras.training.report import format_table

    if args.refit:
        metrics = train_with_refit(args, args.model, args.out)
    else:
        metrics = _train_one(args, args.model, args.out)
    table_warnings([metrics] if metrics else [])
    if not metrics:  # a multi-worker run's worker K > 0: the chief scores and writes the run
        import json
        import os

        task = json.loads(os.environ["TF_CONFIG"])["task"]
        print(f"worker copy written to {args.out}.{task['type']}-{task['index']} (the chief writes {args.out})")
        return
    print(format_table([metrics]))
    print(f"run written to {args.out}")
    print(f"training curves: tensorboard --logdir {args.out}/logs")


def _simple_baseline(name, dataset, item_embeddings=None):
    from hiertcn_keras.models import baselines, item_vectors

    vectors = None
    if name in baselines.VECTOR_BASELINES and item_embeddings:
        vectors = item_vectors.load_item_vectors(item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    return baselines.fit_baseline(name, dataset, item_vectors=vectors)


def _evaluate(args, *, run=None, model=None):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import evaluate_baseline, evaluate_recommender

    dataset = PreparedDataset(args.data)
    if run is not None:
        from hiertcn_keras.training.trainer import load_run

        recommender, record = load_run(run)
        if record["data"]["fingerprint"] != dataset.fingerprint:
            raise ValueError(f"{run} was trained on data with fingerprint {record['data']['fingerprint']}, "
                             f"{args.data} has {dataset.fingerprint}")
        return evaluate_recommender(recommender, dataset, args.split, tie_policy=args.tie_policy,
                                    averaging=getattr(args, "averaging", "event"))
    baseline = _simple_baseline(model, dataset, getattr(args, "item_embeddings", None))
    return evaluate_baseline(baseline, dataset, args.split, name=model, tie_policy=args.tie_policy,
                             averaging=getattr(args, "averaging", "event"))


def cmd_evaluate(args):
    from hiertcn_keras.artifacts import atomic, output_guard
    from hiertcn_keras.cli.fresh import evaluate_rolling
    from hiertcn_keras.training.report import format_table

    if args.out:
        output_guard.check_output_file(args.out, inputs=_inputs(args), overwrite=True)
    if evaluate_rolling(args):
        return
    if args.test_log is not None:
        metrics = evaluate_test_log(args)
    elif args.data is None:
        raise ValueError("--data is required (or --run with --test-log)")
    else:
        metrics = _evaluate(args, run=args.run, model=args.model)
    if args.run:
        metrics["run"] = str(args.run)
    if args.out:
        atomic.write_json(args.out, metrics)
    print(format_table([metrics]))


def cmd_compare(args):
    import json
    from pathlib import Path

    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training import comparison
    from hiertcn_keras.training.convergence import convergence_summary
    from hiertcn_keras.training.seeds import split_targets

    if args.seeds < 1:
        raise ValueError(f"--seeds must be ≥ 1, got {args.seeds}")
    out = Path(args.out)
    if (args.tune or args.refit) and args.split != "test":
        raise ValueError("--tune and --refit choose on the validation split and report the test split; "
                         "drop --split valid")
    output_guard.check_output(out, "compare", inputs=_inputs(args), overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / output_guard.MARKER).is_file():  # marked first: a killed compare is still ours
        output_guard.write_marker(out, "compare")
    dataset = PreparedDataset(args.data)
    seeds = [args.seed + i for i in range(args.seeds)]

    def run_neural(name, seed):
        run_dir = out / name if len(seeds) == 1 else out / name / f"seed-{seed}"
        print(f"== {name} (seed {seed})", flush=True)
        if args.tune or args.refit:
            # Tuned once (first seed); the chosen setting is repeated with the other seeds.
            metrics, run_dir = neural_result(args, name, out, seed)
        else:
            metrics = _train_one(args, name, run_dir, seed=seed)
            if not (args.split == "test" and args.tie_policy == metrics["tie_policy"]):
                metrics = _evaluate(args, run=run_dir)
        record = json.loads((run_dir / "config.json").read_text())
        history = json.loads((run_dir / "history.json").read_text())
        return dict(metrics, train_seconds=record["train_seconds"], **convergence_summary(history, args.monitor, record["train"]["epochs"]))

    def run_baseline(name):
        print(f"== {name}", flush=True)
        if args.tune or args.refit:
            return baseline_result(args, name, out)
        return _evaluate(args, model=name)

    rows = comparison.compare_models(args.models, seeds, run_neural=run_neural, run_baseline=run_baseline,
                                     neural=NEURAL, n_targets=split_targets(dataset, args.split))
    if args.oracle_log:
        from hiertcn_keras.data.oracle import oracle_for_split

        oracle = oracle_for_split(args.oracle_log, dataset, args.split)
        oracle.update(model="oracle (generator)", protocol=dataset.protocol, split=args.split, tie_policy="conservative")
        rows.append(oracle)
    if args.tune or args.refit:
        labels = [budget_label(args)] if args.tune else []
        if args.tune and len(seeds) > 1:
            labels.append(f"each model tuned once (seed {seeds[0]}); its chosen setting retrained with seeds "
                          f"{', '.join(map(str, seeds[1:]))}")
        if args.refit:
            labels.append("refit: every model retrained on training + validation before the test split")
    else:
        labels = [f"budget: untuned, at most {args.epochs} epochs (patience {args.patience} on validation "
                  f"{args.monitor}), seeds {', '.join(map(str, seeds))}"]
    priors = [name for name, on in (("recency", args.recency_prior), ("transition", args.transition_prior)) if on]
    if priors and any(name in NEURAL for name in args.models):
        labels.append(f"neural models: with the {' and '.join(priors)} prior{'s' if len(priors) > 1 else ''}, "
                      "weights chosen jointly on validation among settings that lower neither Recall@10 nor MRR "
                      "there (weight 0 = the plain model; --no-recency-prior / --no-transition-prior turn them off)")
    table = comparison.format_comparison(rows, labels=[*labels, *table_warnings(rows)])
    comparison.write_comparison(out, rows, table)
    print(table)
    if any(name in NEURAL for name in args.models):
        print(f"training curves: tensorboard --logdir {out}")
