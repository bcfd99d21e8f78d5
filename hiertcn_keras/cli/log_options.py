"""The flags that say how to read a raw log, shared by `prepare`, `recommend --log` and `evaluate --test-log`."""

from __future__ import annotations

FORMATS = ("generic", "globo", "xing", "movielens")


def add_format_option(p):
    p.add_argument("--format", default="generic", choices=FORMATS, help="input format")


def add_column_options(p, *, sessions=True):
    """The generic format's column flags (`--user-col`, ..., `--sep`) as a group of `p`.

    Args:
        p: argparse parser.
        sessions: bool. Also `--session-col` and `--event-col` (read by `prepare` only).

    Returns:
        The argument group.
    """
    g = p.add_argument_group("generic format")
    g.add_argument("--user-col", default="user_id", help="user column (default user_id)")
    g.add_argument("--item-col", default="item_id", help="item column (default item_id)")
    g.add_argument("--time-col", default="timestamp", help="timestamp column (default timestamp)")
    if sessions:
        g.add_argument("--session-col", default=None, help="optional session id column")
        g.add_argument("--event-col", default=None, help="optional event type column")
    g.add_argument("--time-unit", default="s", choices=("s", "ms", "iso"), help="timestamp unit (default s)")
    g.add_argument("--sep", default=None, help="field separator (default: by file extension)")
    return g


def add_bad_rows_option(p):
    p.add_argument("--on-bad-rows", default="error", choices=("error", "drop"),
                   help="stop at the first unusable row (default) or drop and count such rows")


def load_options(args):
    """The keyword options of `hiertcn_keras.data.loaders.load` for the parsed flags."""
    if args.format in ("xing", "movielens"):
        return {}
    options = {"on_bad_rows": args.on_bad_rows}
    if args.format == "generic":
        options.update(
            user_col=args.user_col,
            item_col=args.item_col,
            time_col=args.time_col,
            session_col=getattr(args, "session_col", None),
            event_col=getattr(args, "event_col", None),
            time_unit=args.time_unit,
            sep=args.sep,
        )
    return options


def load_log(path, args):
    """Load a raw log with the flags of `add_format_option`/`add_column_options`; warnings to stderr.

    Returns:
        `LoadedLog`.
    """
    import sys

    from hiertcn_keras.data import loaders

    log = loaders.load(path, args.format, **load_options(args))
    for warning in log.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return log
