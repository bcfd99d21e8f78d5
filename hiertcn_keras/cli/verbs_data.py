"""The data verbs: `synth`, `prepare`, `stats`."""

from __future__ import annotations

import json
import sys
import textwrap

from hiertcn_keras.cli.common import (add_overwrite, formatter, non_negative_float, non_negative_int,
                                      open_fraction, positive_float, positive_int)
from hiertcn_keras.cli.log_options import add_bad_rows_option, add_column_options, add_format_option, load_options

ORDER = 10


def register(sub):
    """Adds this module's verbs to the subparsers `sub`."""
    _add_synth(sub)
    _add_prepare(sub)
    _add_stats(sub)


def _add_synth(sub):
    p = sub.add_parser(
        "synth",
        help="write a synthetic click log (the embedded default dataset)",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Write a synthetic click log in the generic format (user_id,item_id,timestamp) whose
            users have slowly drifting long-term interests, sessions with a short-term intent,
            within-session sequential structure and heavy-tailed item popularity. Next to FILE it
            saves the generator's parameters (FILE stem + .generator.json) and the per-event
            oracle ranks (.oracle.parquet) for an upper bound on any model's accuracy."""
        ),
        epilog="examples:\n  hiertcn synth --out runs/default/log.csv --users 2000 --items 1000 --seed 7\n"
        "  hiertcn synth --generator drift --out runs/drift/log.csv --users 3000 --items 5000",
    )
    p.add_argument("--out", required=True, metavar="FILE.csv", help="where to write the log")
    p.add_argument("--users", type=positive_int, default=2000, help="number of users (default 2000)")
    p.add_argument("--items", type=positive_int, default=1000, help="number of items (default 1000)")
    p.add_argument("--topics", type=positive_int, default=None, help="number of latent topics (default 20)")
    p.add_argument("--seed", type=non_negative_int, default=7, help="random seed (default 7)")
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle ranks (faster for huge logs)")
    p.add_argument("--generator", choices=("topics", "drift"), default="topics",
                   help="topics: the default generator (discrete topics, one successor per item); drift: an "
                   "independently written one with continuous drifting interests, repeat clicks, successor "
                   "chains and items born over time (docs/baselines.md)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE.csv even if `hiertcn synth` did not write it")
    p.set_defaults(func=cmd_synth)


def _add_prepare(sub):
    p = sub.add_parser(
        "prepare",
        help="turn a raw click log into sessions, splits and vocabularies",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Load a raw interaction log, sessionize it (a new session when the idle gap is >= the
            threshold), filter, truncate sessions, split (temporal time cuts or the paper's user
            split) and index ids, then write DIR/events.parquet (with --engine spark, the same
            events as part files DIR/events/part-*.parquet), DIR/items.parquet,
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
              hiertcn prepare --input ml-1m --format movielens --out ml1m-prepared
              hiertcn prepare --input logs/ --engine spark --spark-master local[4] --out prepared
              spark-submit --master yarn .../hiertcn_keras/cli/spark_submit.py --input ... --out ...
                  (docs/spark.md)"""
        ),
    )
    p.add_argument("--input", required=True, metavar="PATH", help="file or folder to read")
    add_format_option(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically; an existing "
                   "one is replaced only if it is a prepared dataset, see --overwrite)")
    add_overwrite(p, "prepared dataset")
    e = p.add_argument_group("engine")
    e.add_argument(
        "--engine", choices=("pandas", "spark"), default="pandas",
        help="pandas (one machine, default) or spark (same output; events as part files under "
        "DIR/events/; needs `pip install hiertcn-keras[spark]`, see docs/spark.md)",
    )
    e.add_argument("--spark-master", default=None, metavar="URL",
                   help="Spark master (default: what spark-submit set, else local[*])")
    e.add_argument("--events-per-bucket", type=positive_int, default=2_000_000, metavar="N",
                   help="spark: events per user bucket = per part file and per task (default 2000000)")
    e.add_argument("--graph-window", type=non_negative_int, default=None, metavar="W",
                   help="spark: also write the item co-interaction edge counts of the training "
                   "events (window W) to DIR/cointeraction/")
    add_column_options(p)
    add_bad_rows_option(p)
    s = p.add_argument_group("sessions and filters")
    s.add_argument("--session-gap", type=positive_float, default=None, metavar="S", help="idle seconds (default 1800)")
    s.add_argument("--max-session-len", type=positive_int, default=None, metavar="L", help="truncate sessions (default 20)")
    s.add_argument("--sessions", choices=("gap", "column"), default=None, help="session rule (default gap)")
    s.add_argument("--collapse-repeats", action="store_true", default=None, help="drop consecutive repeats")
    s.add_argument("--keep-duplicates", action="store_true", help="keep exact duplicate events")
    s.add_argument("--drop-event-types", nargs="*", default=None, metavar="T", help="event types to exclude")
    s.add_argument("--min-item-support", type=positive_int, default=None, metavar="N", help="min events per item")
    s.add_argument("--min-user-events", type=positive_int, default=None, metavar="N", help="min events per user")
    s.add_argument("--max-user-events", type=positive_int, default=None, metavar="N", help="max events per user")
    s.add_argument("--min-session-len", type=positive_int, default=None, metavar="N", help="min events per session")
    s.add_argument("--protocol", choices=("temporal", "paper"), default=None, help="split (default temporal)")
    s.add_argument(
        "--split-quantiles", type=open_fraction, nargs=2, default=None, metavar=("Q1", "Q2"),
        help="time quantiles of the temporal cuts (default 0.8 0.9)",
    )
    s.add_argument(
        "--split-fractions", type=non_negative_float, nargs=3, default=None, metavar=("TR", "VA", "TE"),
        help="user fractions of the paper split (default 0.8 0.1 0.1)",
    )
    p.set_defaults(func=cmd_prepare)


def _add_stats(sub):
    p = sub.add_parser(
        "stats",
        help="print a prepared dataset's statistics",
        formatter_class=formatter,
        description="Print DIR/stats.json readably (or as JSON with --json).",
        epilog="examples:\n  hiertcn stats runs/default/prepared\n  hiertcn stats runs/default/prepared --json",
    )
    p.add_argument("dir", metavar="DIR", help="a folder written by `hiertcn prepare`")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=cmd_stats)


def cmd_synth(args):
    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.data import synthetic, synthetic_io

    output_guard.check_output_file(args.out, ours=synthetic_sidecar(args.out), overwrite=args.overwrite)
    if args.generator == "drift":
        return _synth_drift(args)

    options = {"n_users": args.users, "n_items": args.items, "seed": args.seed}
    if args.topics is not None:
        options["n_topics"] = args.topics
    config = synthetic.SyntheticConfig(**options)
    log = synthetic.generate(config, with_oracle=not args.no_oracle)
    synthetic_io.save(log, args.out)
    print(f"wrote {len(log.events):,} events of {config.n_users:,} users over {config.n_items:,} items to {args.out}")


def _synth_drift(args):
    from hiertcn_keras.data import drift_synthetic, drift_synthetic_io

    if args.topics is not None:
        raise ValueError("--topics applies to --generator topics only (the drift generator has no topics)")
    config = drift_synthetic.DriftConfig(n_users=args.users, n_items=args.items, seed=args.seed)
    log = drift_synthetic.generate_drift(config, with_oracle=not args.no_oracle)
    drift_synthetic_io.save_drift(log, args.out)
    print(f"wrote {len(log.events):,} events of {config.n_users:,} users over {config.n_items:,} items "
          f"(drift generator) to {args.out}")


def synthetic_sidecar(out):
    """The parameters file `hiertcn synth` writes beside its log: it marks the log as ours."""
    from pathlib import Path

    out = Path(out)
    return out.with_name(out.stem + ".generator.json")


def _prepare_config(args, preset):
    """The format's preset, overridden by the flags given."""
    from hiertcn_keras.data.prepare import PrepareConfig

    settings = dict(preset)
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
    return PrepareConfig.from_dict(settings)


def cmd_prepare(args):
    if args.engine == "spark":
        return _prepare_spark(args)
    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.data import loaders
    from hiertcn_keras.data.prepare import prepare

    output_guard.check_output(args.out, "dataset", inputs=[args.input], overwrite=args.overwrite)
    log = loaders.load(args.input, args.format, **load_options(args))
    for warning in log.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    prepared = prepare(log, _prepare_config(args, log.preset))
    prepared.write(args.out, overwrite=args.overwrite)
    _print_prepared(prepared.stats, args.out)


def _prepare_spark(args):
    from hiertcn_keras.data.spark import require_pyspark

    try:
        require_pyspark()
    except ImportError as error:
        raise ValueError(str(error)) from None  # the CLI prints it as a one-line error
    from hiertcn_keras.data.spark.pipeline import SparkOptions, prepare_spark
    from hiertcn_keras.data.spark.session import get_session
    from hiertcn_keras.data.spark.sources import plan_source

    from hiertcn_keras.artifacts import output_guard

    output_guard.check_output(args.out, "dataset", inputs=[args.input], overwrite=args.overwrite)
    plan = plan_source(args.input, args.format, **load_options(args))
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    config = _prepare_config(args, plan.preset)
    options = SparkOptions(events_per_bucket=args.events_per_bucket, graph_window=args.graph_window)
    spark = get_session(args.spark_master)
    stats = prepare_spark(spark, plan, config, args.out, options, overwrite=args.overwrite)
    _print_prepared(stats, args.out)


def _print_prepared(s, out):
    print(
        f"prepared {s['n_events']:,} events ({s['n_rows_read']:,} rows read, "
        f"{sum(s['dropped'].values()):,} dropped), {s['n_users']:,} users, {s['n_items']:,} items, "
        f"{s['n_sessions']:,} sessions in {s['prepare_seconds']:.2f} s -> {out}"
        + (f" ({len(s['empty_files'])} files without data rows skipped, listed in stats.json)"
           if s.get("empty_files") else "")
    )


def cmd_stats(args):
    from pathlib import Path

    from hiertcn_keras.artifacts.errors import DataError
    from hiertcn_keras.data.stats import format_stats

    path = Path(args.dir) / "stats.json"
    if not path.is_file():
        raise DataError("no stats.json here; is this a folder written by `hiertcn prepare`?", path=args.dir)
    try:
        stats = json.loads(path.read_text())
        text = json.dumps(stats, indent=2) if args.json else format_stats(stats)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise DataError(f"unreadable statistics (damaged?): {type(error).__name__}: {error}", path=path) from None
    print(text)
