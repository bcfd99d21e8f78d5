"""The `hiertcn` command line.

Every verb lives in one function below; heavy imports (pandas, TensorFlow, Keras) happen inside
the verbs so that `hiertcn --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

EPILOG = """\
examples:
  hiertcn synth --out runs/default/log.csv --users 2000 --items 1000 --seed 7
  hiertcn prepare --input runs/default/log.csv --format generic --out runs/default/prepared
  hiertcn stats runs/default/prepared
  hiertcn train --data runs/default/prepared --model hiertcn --out runs/default/hiertcn --epochs 10
  hiertcn evaluate --data runs/default/prepared --run runs/default/hiertcn --out test.json
  hiertcn evaluate --data runs/default/prepared --model pop --out pop.json
  hiertcn compare --data runs/default/prepared --models hiertcn gru mv pop --out runs/default/compare

Run `hiertcn VERB --help` for each verb's options and examples.
"""


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def _add_synth(sub):
    p = sub.add_parser(
        "synth",
        help="write a synthetic click log (the embedded default dataset)",
        formatter_class=_formatter,
        description=textwrap.dedent(
            """\
            Write a synthetic click log in the generic format (user_id,item_id,timestamp) whose
            users have slowly drifting long-term interests, sessions with a short-term intent,
            within-session sequential structure and heavy-tailed item popularity. Next to FILE it
            saves the generator's parameters (FILE stem + .generator.json) and the per-event
            oracle ranks (.oracle.parquet) for an upper bound on any model's accuracy."""
        ),
        epilog="example:\n  hiertcn synth --out runs/default/log.csv --users 2000 --items 1000 --seed 7",
    )
    p.add_argument("--out", required=True, metavar="FILE.csv", help="where to write the log")
    p.add_argument("--users", type=int, default=2000, help="number of users (default 2000)")
    p.add_argument("--items", type=int, default=1000, help="number of items (default 1000)")
    p.add_argument("--topics", type=int, default=None, help="number of latent topics (default 20)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle ranks (faster for huge logs)")
    p.set_defaults(func=cmd_synth)


def _add_prepare(sub):
    p = sub.add_parser(
        "prepare",
        help="turn a raw click log into sessions, splits and vocabularies",
        formatter_class=_formatter,
        description=textwrap.dedent(
            """\
            Load a raw interaction log, sessionize it (a new session when the idle gap is >= the
            threshold), filter, truncate sessions, split (temporal time cuts or the paper's user
            split) and index ids, then write DIR/events.parquet, DIR/items.parquet,
            DIR/users.parquet, DIR/config.json and DIR/stats.json. Every dropped event is counted
            by reason in stats.json. A format's preset (e.g. XING's official filters) applies
            unless a flag overrides it. The folder is written atomically."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn prepare --input log.csv --format generic --out prepared
              hiertcn prepare --input clicks.tsv --user-col uid --item-col pin --time-col ts \\
                  --time-unit ms --out prepared
              hiertcn prepare --input xing/interactions.csv --format xing --out xing-prepared
              hiertcn prepare --input globo/clicks --format globo --out globo-prepared --protocol temporal
              hiertcn prepare --input ml-1m --format movielens --out ml1m-prepared"""
        ),
    )
    p.add_argument("--input", required=True, metavar="PATH", help="file or folder to read")
    p.add_argument(
        "--format", default="generic", choices=("generic", "globo", "xing", "movielens"), help="input format"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (replaced atomically)")
    g = p.add_argument_group("generic format")
    g.add_argument("--user-col", default="user_id", help="user column (default user_id)")
    g.add_argument("--item-col", default="item_id", help="item column (default item_id)")
    g.add_argument("--time-col", default="timestamp", help="timestamp column (default timestamp)")
    g.add_argument("--session-col", default=None, help="optional session id column")
    g.add_argument("--event-col", default=None, help="optional event type column")
    g.add_argument("--time-unit", default="s", choices=("s", "ms", "iso"), help="timestamp unit (default s)")
    g.add_argument("--sep", default=None, help="field separator (default: by file extension)")
    p.add_argument(
        "--on-bad-rows",
        default="error",
        choices=("error", "drop"),
        help="stop at the first unusable row (default) or drop and count such rows",
    )
    s = p.add_argument_group("sessions and filters")
    s.add_argument("--session-gap", type=float, default=None, metavar="S", help="idle seconds (default 1800)")
    s.add_argument("--max-session-len", type=int, default=None, metavar="L", help="truncate sessions (default 20)")
    s.add_argument("--sessions", choices=("gap", "column"), default=None, help="session rule (default gap)")
    s.add_argument("--collapse-repeats", action="store_true", default=None, help="drop consecutive repeats")
    s.add_argument("--keep-duplicates", action="store_true", help="keep exact duplicate events")
    s.add_argument("--drop-event-types", nargs="*", default=None, metavar="T", help="event types to exclude")
    s.add_argument("--min-item-support", type=int, default=None, metavar="N", help="min events per item")
    s.add_argument("--min-user-events", type=int, default=None, metavar="N", help="min events per user")
    s.add_argument("--max-user-events", type=int, default=None, metavar="N", help="max events per user")
    s.add_argument("--min-session-len", type=int, default=None, metavar="N", help="min events per session")
    s.add_argument("--protocol", choices=("temporal", "paper"), default=None, help="split (default temporal)")
    s.add_argument(
        "--split-quantiles", type=float, nargs=2, default=None, metavar=("Q1", "Q2"),
        help="time quantiles of the temporal cuts (default 0.8 0.9)",
    )
    s.add_argument(
        "--split-fractions", type=float, nargs=3, default=None, metavar=("TR", "VA", "TE"),
        help="user fractions of the paper split (default 0.8 0.1 0.1)",
    )
    p.set_defaults(func=cmd_prepare)


def _add_stats(sub):
    p = sub.add_parser(
        "stats",
        help="print a prepared dataset's statistics",
        formatter_class=_formatter,
        description="Print DIR/stats.json readably (or as JSON with --json).",
        epilog="examples:\n  hiertcn stats runs/default/prepared\n  hiertcn stats runs/default/prepared --json",
    )
    p.add_argument("dir", metavar="DIR", help="a folder written by `hiertcn prepare`")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=cmd_stats)


NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
SIMPLE = ("mv", "maxitem", "pop", "sknn")


def _add_model_options(p):
    g = p.add_argument_group("model")
    g.add_argument("--item-space", choices=("learned", "pretrained"), default="learned",
                   help="learned ids with an untied softmax output (default), or frozen pretrained vectors")
    g.add_argument("--item-embeddings", metavar="PATH", default=None,
                   help="item vectors for --item-space pretrained and the MV/MaxItem baselines: a store written "
                   "by `hiertcn embed-items`, or a .npy matrix [n_items, D] (or [n_items-1, D])")
    g.add_argument("--loss", default=None,
                   choices=("softmax", "sampled_softmax", "l2", "nce", "bpr", "hinge", "hinge_logsigmoid"),
                   help="default: softmax (learned) or hinge (pretrained)")
    g.add_argument("--negatives", type=int, default=None, metavar="K", help="sampled negatives (default 20)")
    g.add_argument("--negative-distribution", choices=("uniform", "popularity"), default=None)
    g.add_argument("--embedding-dim", type=int, default=None, metavar="D", help="item embedding size (default 128)")
    g.add_argument("--tcn-channels", type=int, nargs="+", default=None, metavar="C", help="default 128 128")
    g.add_argument("--high-units", type=int, nargs="+", default=None, metavar="H", help="default 128 128")
    g.add_argument("--batch-size", type=int, default=None, metavar="B", help="queues per batch (default 32)")
    g.add_argument("--sessions-per-batch", type=int, default=None, metavar="S", help="default 10")
    g.add_argument("--learning-rate", type=float, default=None, metavar="LR", help="Adam (default 1e-3)")
    g.add_argument("--decay-bandwidth", type=float, default=None, metavar="S",
                   help="high-level state decay exp(-gap/S) (default off)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10, help="maximum epochs (default 10)")
    t.add_argument("--patience", type=int, default=3, help="early-stopping patience (default 3)")
    t.add_argument("--monitor", default="recall@10", help="validation metric for early stopping (default recall@10)")
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.add_argument("--no-jit", action="store_true", help="disable XLA compilation")
    t.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")


def _model_overrides(args, model):
    return {
        "model": model,
        "item_space": args.item_space,
        "loss": args.loss,
        "n_negatives": args.negatives,
        "negative_distribution": args.negative_distribution,
        "embedding_dim": args.embedding_dim,
        "tcn_channels": tuple(args.tcn_channels) if args.tcn_channels else None,
        "high_units": tuple(args.high_units) if args.high_units else None,
        "batch_size": args.batch_size,
        "sessions_per_batch": args.sessions_per_batch,
        "learning_rate": args.learning_rate,
        "decay_bandwidth": args.decay_bandwidth,
        "seed": args.seed,
    }


def _add_train(sub):
    p = sub.add_parser(
        "train",
        help="train a neural model and write its run directory",
        formatter_class=_formatter,
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
                  --item-embeddings items.npy --loss nce --out runs/hiertcn-nce"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    p.add_argument("--model", choices=NEURAL, default="hiertcn", help="model (default hiertcn)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    _add_model_options(p)
    p.set_defaults(func=cmd_train)


def _add_evaluate(sub):
    p = sub.add_parser(
        "evaluate",
        help="full-catalogue ranking metrics of a trained run or a simple baseline",
        formatter_class=_formatter,
        description=textwrap.dedent(
            """\
            Rank every scored target of a split against the whole catalogue (items seen in
            training) and report Recall@1/5/10/20, MRR, MRP and NDCG@10. Ties count against the
            model by default (--tie-policy conservative); `optimistic` is the official code's."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn evaluate --data prepared --run runs/hiertcn --out hiertcn-test.json
              hiertcn evaluate --data prepared --model mv --out mv.json
              hiertcn evaluate --data prepared --model sknn --split valid --averaging user --out sknn.json"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--run", metavar="RUN_DIR", help="a run directory written by `hiertcn train`")
    who.add_argument("--model", choices=SIMPLE, help="a simple baseline")
    p.add_argument("--split", choices=("valid", "test"), default="test", help="default test")
    p.add_argument("--tie-policy", choices=("conservative", "optimistic", "average"), default="conservative")
    p.add_argument("--averaging", choices=("event", "user"), default="event", help="default event (micro)")
    p.add_argument("--item-embeddings", metavar="PATH", default=None, help="item vectors for mv/maxitem: an embedding store or a .npy matrix")
    p.add_argument("--out", metavar="FILE.json", default=None, help="write the metrics here")
    p.set_defaults(func=cmd_evaluate)


def _add_compare(sub):
    p = sub.add_parser(
        "compare",
        help="train/evaluate several models on one dataset and print the paper-style table",
        formatter_class=_formatter,
        description="Train every neural model named (into OUT/MODEL), evaluate it and every simple baseline "
        "on the same split, and print and save (OUT/table.md, OUT/table.json) the paper-style table.",
        epilog=textwrap.dedent(
            """\
            example:
              hiertcn compare --data prepared --models hiertcn hiergru hrnn tcn gru mv maxitem pop sknn \\
                  --epochs 10 --out runs/compare"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    p.add_argument("--models", nargs="+", choices=NEURAL + SIMPLE, default=list(NEURAL + SIMPLE))
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the runs and the table")
    p.add_argument("--split", choices=("valid", "test"), default="test")
    p.add_argument("--tie-policy", choices=("conservative", "optimistic", "average"), default="conservative")
    p.add_argument("--oracle-log", metavar="LOG.csv", default=None,
                   help="a log written by `hiertcn synth`: add the generator's oracle (upper bound) row")
    _add_model_options(p)
    p.set_defaults(func=cmd_compare)


def _add_embed_items(sub):
    p = sub.add_parser(
        "embed-items",
        help="train the PinSage-style item model and write a memory-mapped embedding store",
        formatter_class=_formatter,
        description=textwrap.dedent(
            """\
            Build the item co-interaction graph of the training events, PinSage importance
            neighbourhoods (random walks with restart, top-T visits), train a two-layer
            importance-pooled GraphSAGE model on items engaged one after the other (shared
            negatives; max-margin or NCE), embed every item and write STORE_DIR atomically
            (embeddings.bin memory-mapped on open, ids.parquet, manifest.json with a checksum).
            Use the store with `hiertcn train --item-space pretrained --item-embeddings STORE_DIR`."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn embed-items --data runs/default/prepared --out runs/default/items --dim 64 --epochs 5
              hiertcn embed-items --data prepared --out items --loss nce --content article_vectors.npy"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    p.add_argument("--out", required=True, metavar="STORE_DIR", help="embedding store to write")
    p.add_argument("--dim", type=int, default=64, help="embedding size (default 64)")
    p.add_argument("--epochs", type=int, default=5, help="default 5")
    p.add_argument("--loss", choices=("max_margin", "nce"), default="max_margin", help="default max_margin")
    p.add_argument("--negatives", type=int, default=500, help="shared negatives per batch (default 500)")
    p.add_argument("--top-t", type=int, default=10, help="neighbours per item (default 10)")
    p.add_argument("--content", metavar="PATH", default=None,
                   help=".npy content features [n_items, C] (or [n_items-1, C]) in the dataset's item order")
    p.add_argument("--float16", action="store_true", help="store the matrix as float16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_embed_items)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hiertcn",
        formatter_class=_formatter,
        description="HierTCN (WWW 2019) in Keras 3: prepare click logs, train and evaluate "
        "hierarchical session-aware recommenders.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    _add_synth(sub)
    _add_prepare(sub)
    _add_stats(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_compare(sub)
    _add_embed_items(sub)
    return parser


def cmd_synth(args):
    from hiertcn_keras.data import synthetic

    options = {"n_users": args.users, "n_items": args.items, "seed": args.seed}
    if args.topics is not None:
        options["n_topics"] = args.topics
    config = synthetic.SyntheticConfig(**options)
    log = synthetic.generate(config, with_oracle=not args.no_oracle)
    synthetic.save(log, args.out)
    print(f"wrote {len(log.events):,} events of {config.n_users:,} users over {config.n_items:,} items to {args.out}")


def cmd_prepare(args):
    from hiertcn_keras.data import loaders
    from hiertcn_keras.data.prepare import PrepareConfig, prepare

    options = {"on_bad_rows": args.on_bad_rows}
    if args.format == "generic":
        options.update(
            user_col=args.user_col,
            item_col=args.item_col,
            time_col=args.time_col,
            session_col=args.session_col,
            event_col=args.event_col,
            time_unit=args.time_unit,
            sep=args.sep,
        )
    elif args.format in ("xing", "movielens"):
        options = {}
    log = loaders.load(args.input, args.format, **options)
    settings = dict(log.preset)
    explicit = {
        "session_gap": args.session_gap,
        "max_session_len": args.max_session_len,
        "sessions": args.sessions,
        "collapse_repeats": args.collapse_repeats,
        "drop_duplicates": False if args.keep_duplicates else None,
        "drop_event_types": tuple(args.drop_event_types) if args.drop_event_types is not None else None,
        "min_item_support": args.min_item_support,
        "min_user_events": args.min_user_events,
        "max_user_events": args.max_user_events,
        "min_session_len": args.min_session_len,
        "protocol": args.protocol,
        "split_quantiles": tuple(args.split_quantiles) if args.split_quantiles else None,
        "split_fractions": tuple(args.split_fractions) if args.split_fractions else None,
    }
    settings.update({k: v for k, v in explicit.items() if v is not None})
    for warning in log.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    prepared = prepare(log, PrepareConfig.from_dict(settings))
    prepared.write(args.out)
    s = prepared.stats
    print(
        f"prepared {s['n_events']:,} events ({s['n_rows_read']:,} rows read, "
        f"{sum(s['dropped'].values()):,} dropped), {s['n_users']:,} users, {s['n_items']:,} items, "
        f"{s['n_sessions']:,} sessions in {s['prepare_seconds']:.2f} s -> {args.out}"
    )


def cmd_stats(args):
    from pathlib import Path

    from hiertcn_keras.data.errors import DataError
    from hiertcn_keras.data.stats import format_stats

    path = Path(args.dir) / "stats.json"
    if not path.is_file():
        raise DataError("no stats.json here; is this a folder written by `hiertcn prepare`?", path=args.dir)
    stats = json.loads(path.read_text())
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))


def _train_one(args, model, out):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors
    from hiertcn_keras.training.trainer import TrainConfig, model_config_for, train

    dataset = PreparedDataset(args.data)
    matrix = None
    if args.item_space == "pretrained":
        if not args.item_embeddings:
            raise ValueError("--item-space pretrained needs --item-embeddings PATH (.npy)")
        matrix = load_item_vectors(args.item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    config = model_config_for(dataset, **_model_overrides(args, model))
    train_config = TrainConfig(epochs=args.epochs, patience=args.patience, monitor=args.monitor, seed=args.seed,
                               jit_compile=False if args.no_jit else "auto", verbose=2 if args.quiet else 1)
    _, history, metrics = train(args.data, config, train_config, out, item_matrix=matrix)
    return metrics


def cmd_train(args):
    from hiertcn_keras.training.report import format_table

    metrics = _train_one(args, args.model, args.out)
    print(format_table([metrics]))
    print(f"run written to {args.out}")


def _simple_baseline(name, dataset, item_embeddings=None):
    from hiertcn_keras.models import item_vectors, simple_baselines

    train_view = dataset.view("train")
    vectors = None
    if name in ("mv", "maxitem"):
        if item_embeddings:
            vectors = item_vectors.load_item_vectors(item_embeddings, dataset.n_items, dataset.items["id"].tolist())
        else:
            vectors = item_vectors.cooccurrence_vectors(train_view, dataset.n_items)
    cls = {"mv": simple_baselines.MovingAverage, "maxitem": simple_baselines.MaxItem,
           "pop": simple_baselines.Pop, "sknn": simple_baselines.SessionKNN}[name]
    return cls().fit(train_view, dataset.n_items, dataset.n_catalogue, item_vectors=vectors)


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
    from hiertcn_keras import atomic
    from hiertcn_keras.training.report import format_table

    metrics = _evaluate(args, run=args.run, model=args.model)
    if args.run:
        metrics["run"] = str(args.run)
    if args.out:
        atomic.write_json(args.out, metrics)
    print(format_table([metrics]))


def cmd_compare(args):
    from pathlib import Path

    from hiertcn_keras import atomic
    from hiertcn_keras.training.report import format_table

    out = Path(args.out)
    results = []
    for name in args.models:
        print(f"== {name}", flush=True)
        if name in NEURAL:
            metrics = _train_one(args, name, out / name)
            results.append(metrics if args.split == "test" and args.tie_policy == metrics["tie_policy"]
                           else _evaluate(args, run=out / name))
        else:
            results.append(_evaluate(args, model=name))
        print(format_table(results[-1:]), flush=True)
    if args.oracle_log:
        from hiertcn_keras.data.dataset import PreparedDataset
        from hiertcn_keras.data.oracle import oracle_for_split

        dataset = PreparedDataset(args.data)
        oracle = oracle_for_split(args.oracle_log, dataset, args.split)
        oracle.update(model="oracle (generator)", protocol=dataset.protocol, split=args.split, tie_policy="conservative")
        results.append(oracle)
    table = format_table(results)
    atomic.write_json(out / "table.json", results)
    with atomic.atomic_file(out / "table.md") as f:
        f.write(table + "\n")
    print(table)


def cmd_embed_items(args):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.item_quality import next_item_quality
    from hiertcn_keras.training.item_training import ItemModelConfig, embed_items
    from hiertcn_keras.models.item_vectors import load_item_vectors

    dataset = PreparedDataset(args.data)
    content = load_item_vectors(args.content, dataset.n_items) if args.content else None
    config = ItemModelConfig(dim=args.dim, epochs=args.epochs, loss=args.loss, n_negatives=args.negatives,
                             top_t=args.top_t, seed=args.seed)
    matrix, report = embed_items(args.data, args.out, config, content=content, verbose=2 if args.quiet else 1,
                                 dtype="float16" if args.float16 else "float32")
    quality = next_item_quality(matrix, dataset.view("valid"), dataset.n_catalogue)
    print(f"graph: {report['graph']['edges']:,} edges over {report['graph']['nodes_with_edges']:,} items "
          f"({report['graph_seconds']:.1f} s); trained on {report['pairs']:,} pairs in {report['train_seconds']:.1f} s")
    print(f"next-item hit-rate@10 by nearest neighbour on the valid split: {quality['recall@10']:.4f} "
          f"(MRR {quality['mrr']:.4f}, {quality['n_events']:,} pairs)")
    print(f"store written to {args.out}")


def main(argv=None):
    """Entry point of the `hiertcn` console script."""
    import os

    # TensorFlow's C++ start-up chatter (oneDNN, CPU features) is noise on a command line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    from hiertcn_keras.data.errors import DataError

    try:
        args.func(args)
    except (DataError, FileNotFoundError, FileExistsError) as error:
        print(f"hiertcn {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"hiertcn {args.verb}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
