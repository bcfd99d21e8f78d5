"""The serving verbs: `serve` (the HTTP API) and `recommend` (one user once, or every user of a log)."""

from __future__ import annotations

import textwrap

from hiertcn_keras.cli.common import (formatter, non_negative_float, port_number, positive_float, positive_int,
                                     recall_fraction, unix_seconds)
from hiertcn_keras.cli.log_options import add_bad_rows_option, add_column_options, add_format_option

ORDER = 40


def register(sub):
    """Adds this module's verbs to the subparsers `sub`."""
    _add_serve(sub)
    _add_recommend(sub)


def _add_common(p):
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a HierTCN/HierGRU run written by `hiertcn train`")
    p.add_argument("--items", metavar="STORE_DIR", default=None,
                   help="item embedding store. A pretrained-space run ranks from it (memory-mapped) after checking "
                   "its vectors equal the model's frozen ones; for a learned-space run only its ids are checked "
                   "and ranking uses the run's output layer. Optional: without it the run's own table is used")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="the run's prepared dataset (vocabulary, session settings) if it moved (default: the "
                   "path recorded in the run)")
    p.add_argument("--session-gap", type=positive_float, default=None, metavar="SECONDS",
                   help="idle gap that starts a session (default: the one the run's data was prepared with)")
    p.add_argument("--retrieval", choices=("exact", "ivf", "hnsw"), default="exact",
                   help="exact brute force (default) or a faiss index (its recall@10 vs exact is printed)")
    p.add_argument("--recall-target", type=recall_fraction, default=None, metavar="R",
                   help="ivf: scan the fewest cells (nprobe) whose recall@10 against exact search clears R by a "
                   "confidence margin on the model's own user vectors (calibrated on half of 4,000 sampled "
                   "new and returning users, reported on the other half; default 0.99 unless --nprobe is given)")
    p.add_argument("--nprobe", type=positive_int, default=None, help="ivf: scan this many cells per query instead")
    p.add_argument("--nlist", type=positive_int, default=None,
                   help="ivf: cells (default 4·√N items, at most N / 39; docs/serving.md has the rule)")
    p.add_argument("--unknown-items", choices=("reject", "skip"), default="reject",
                   help="unknown item ids: an error (default) or skipped and counted")
    p.add_argument("--out-of-order", choices=("reject", "skip", "clamp"), default="reject",
                   help="events older than the user's last: an error (default), skipped, or taken as at the last time")
    p.add_argument("--recency-from", metavar="DATA", default=None,
                   help="a run trained with the recency or transition prior is served with it, counting every "
                   "user's events live; this warms the click counter with the last hours of a prepared dataset "
                   "(DATA, or `run` for the run's own prepared data) and the transition counter with all its "
                   "within-session pairs. Default: the click counter starts empty, the transition counter holds "
                   "the pairs of the run's prepared data")


def _add_serve(sub):
    p = sub.add_parser(
        "serve",
        help="serve a trained run over HTTP: events in, per-user top-K out",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            The talk's online design: item vectors fixed, each user's high-level state kept in a
            user store (SQLite by default, Redis for several processes) and loaded and saved per
            event (the state vector itself changes when a session ends); the user embedding is
            recomputed per event and items are ranked by inner product. FastAPI on uvicorn.
            Routes: POST /events, GET /users/{id}/recommendations?k=, GET and DELETE
            /users/{id}/state, GET /healthz, GET /metrics; the reference is at /docs and
            /openapi.json. JSON in and out; bad input is a 4xx with a message, never a 5xx.
            Binds to 127.0.0.1 by default (there is no authentication).

            The SQLite user store is kept OUTSIDE the run folder by default (retraining into
            the run folder cannot delete it): $HIERTCN_STATE_HOME, else $XDG_STATE_HOME/hiertcn,
            else ~/.local/state/hiertcn, then serving/<run name>-<hash of its path>/users.sqlite.
            The path is printed at start.

            --items on a directory of dated stores (embed-items --until T --stores DIR) serves the
            store DIR/LATEST names with a pretrained-space run, and follows the day: a new store
            is picked up when LATEST changes (checked every --follow-seconds) or on
            POST /admin/reload (from this machine only), built off the request path and swapped
            in atomically; requests in flight finish on the old store. A store that fails its
            checks is refused (logged, and the reload's reply names the file); the old one keeps
            serving. /healthz and every recommendation name the store served."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn serve --run runs/default/hiertcn --port 8000
              hiertcn serve --run runs/pre --items runs/default/items --store redis://127.0.0.1:6379/0 --retrieval hnsw
              hiertcn serve --run runs/pre --items stores/ --follow-seconds 30
              curl -s -X POST localhost:8000/admin/reload
              curl -s localhost:8000/events -d '{"user": "u1", "item": "42", "timestamp": 1700000000}'
              curl -s 'localhost:8000/users/u1/recommendations?k=10'
              curl -s -X DELETE localhost:8000/users/u1/state"""
        ),
    )
    _add_common(p)
    p.add_argument("--store", default=None, metavar="URL",
                   help="user store: sqlite:PATH or redis://HOST:PORT/DB (default: SQLite outside the run "
                   "folder, see above)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, local only)")
    p.add_argument("--port", type=port_number, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument("--max-body-bytes", type=positive_int, default=1 << 20, help="request body limit (default 1 MiB)")
    p.add_argument("--max-events", type=positive_int, default=1000, help="events per POST (default 1000)")
    p.add_argument("--max-k", type=positive_int, default=1000, help="largest k of a recommendations request (default 1000)")
    p.add_argument("--head-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                   help="time a client has to send a complete request head, from connecting or from the "
                   "previous response; the connection is closed after (default 10)")
    p.add_argument("--body-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                   help="time a client has to send a request body; 408 after (default 10)")
    p.add_argument("--timeout-keep-alive", type=positive_float, default=5.0, metavar="SECONDS",
                   help="idle keep-alive connections are closed after this (default 5)")
    p.add_argument("--limit-concurrency", type=positive_int, default=256,
                   help="connections and requests at once; new ones get 503 above it (default 256)")
    p.add_argument("--max-header-bytes", type=positive_int, default=16384,
                   help="largest request head (default 16 KiB)")
    p.add_argument("--no-access-log", action="store_true", help="no JSON access line per request on stdout")
    p.add_argument("--user-update", choices=["auto", "numpy", "compiled"], default="auto",
                   help="how a request's users are updated: numpy (the model's layers in NumPy over the request's "
                   "real positions, checked against the Keras graph at start; HierTCN only), compiled (one "
                   "compiled TensorFlow/JAX call per request) or auto (default: numpy for HierTCN, else compiled)")
    p.add_argument("--warm", action="store_true",
                   help="compile every batch shape of the user update (and touch the retriever) before accepting "
                   "traffic, so the first batched requests do not pay a one-time compile (~1 s per shape); "
                   "prints how long it took. With --items DIR, every reloaded store is warmed before it is swapped in")
    p.add_argument("--follow-seconds", type=non_negative_float, default=60.0, metavar="SECONDS",
                   help="with --items on a directory of dated stores (embed-items --until --stores): check its "
                   "LATEST pointer this often and swap in a new store without a restart; 0 = only on "
                   "POST /admin/reload (default 60)")
    p.set_defaults(func=cmd_serve)


def _add_recommend(sub):
    p = sub.add_parser(
        "recommend",
        help="top-K for one user's history (JSON) or for every user of a log (Parquet)",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            One-off use of the online path: the history file's events (header item,timestamp
            or our log format user_id,item_id,timestamp; with a user column, other users' rows
            are ignored), in time order, go through the same session rule and model as `serve`,
            in memory (nothing is stored); prints JSON with the top-K after the last event and
            what happened to each event.

            With --log, every user of a log (or those of --users) at once: the log is read with
            the same flags as `prepare` (--format, --user-col, ...), each user's events replayed
            the same way, and user_id, rank, item_id, score written to --out (Parquet, atomic).
            Events of items outside the run's vocabulary are skipped and counted."""
        ),
        epilog=textwrap.dedent(
            """\
            example:
              hiertcn recommend --run runs/default/hiertcn --user u1 --history u1.csv --k 10
              hiertcn recommend --run runs/default/hiertcn --log recent.csv --k 10 --out recs.parquet"""
        ),
    )
    _add_common(p)
    p.add_argument("--user", default=None, help="the user id (with --history)")
    p.add_argument("--history", metavar="FILE", default=None,
                   help="one user's CSV/TSV (header: item,timestamp[,user] or user_id,item_id,timestamp)")
    b = p.add_argument_group("many users (--log)")
    b.add_argument("--log", metavar="PATH", default=None, help="a log of many users (read as `prepare` reads it)")
    b.add_argument("--users", metavar="FILE", default=None,
                   help="only these users, one id per line (default: every user of the log)")
    b.add_argument("--out", metavar="FILE", default=None, help="the Parquet file to write (with --log)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_format_option(b)
    add_column_options(p, sessions=False)
    add_bad_rows_option(p)
    p.add_argument("--k", type=positive_int, default=10, help="how many items (default 10)")
    p.add_argument("--at", type=unix_seconds, default=None, metavar="SECONDS",
                   help="rank as of this time (a new session if the history went idle for the gap)")
    p.add_argument("--keep-seen", action="store_true", help="do not exclude the open session's items")
    p.set_defaults(func=cmd_recommend)


def retrieval_options(args):
    """`build_retriever` options from `--recall-target`, `--nprobe`, `--nlist` (checked against `--retrieval`)."""
    given = [flag for flag, value in (("--recall-target", args.recall_target), ("--nprobe", args.nprobe),
                                      ("--nlist", args.nlist)) if value is not None]
    if args.retrieval != "ivf":
        if given:
            raise ValueError(f"{', '.join(given)} only apply to --retrieval ivf")
        return {}
    if args.nprobe is not None and args.recall_target is not None:
        raise ValueError("give --nprobe or --recall-target, not both")
    options = {"nlist": args.nlist} if args.nlist is not None else {}
    if args.nprobe is not None:
        options["nprobe"] = args.nprobe
    else:
        options["recall_target"] = args.recall_target if args.recall_target is not None else 0.99
    return options


def _open(args, store):
    from hiertcn_keras.serving.online_recommender import OnlineRecommender
    from hiertcn_keras.serving.store_follower import is_store_directory

    if args.items is not None and is_store_directory(args.items):
        raise ValueError(f"--items {args.items} is a directory of dated stores: `serve` follows it; "
                         "here give one store (e.g. its LATEST one)")
    recommender = OnlineRecommender.open(args.run, items=args.items, store=store, data_dir=args.data,
                                         session_gap=args.session_gap,
                                         retrieval=args.retrieval, retrieval_options=retrieval_options(args),
                                         unknown_items=args.unknown_items, out_of_order=args.out_of_order,
                                         step=getattr(args, "user_update", "auto"))
    warm_priors(args, recommender)
    return recommender


def warm_priors(args, recommender):
    """Warm the served priors' counters; says what it did.

    `--recency-from DATA|run` counts a prepared dataset's last hours into the click window and
    its within-session pairs into the transition counter. Without it the click window starts
    empty and the transition counter counts the run's own prepared data (its all-time counts are
    what the weight was chosen on).
    """
    import sys

    from hiertcn_keras.serving import click_window, transition_counter

    window, pairs = recommender.clicks, recommender.transitions
    if window is None and pairs is None:
        if args.recency_from is not None:
            raise ValueError(f"--recency-from: {args.run} was not trained with the recency or transition prior "
                             "(or their weights are 0)")
        return
    data = recommender.run.data_dir if args.recency_from in (None, "run") else args.recency_from
    if window is not None:
        line = f"recency prior: window {window.hours:g} h, beta {recommender.recency_beta:g}; "
        if args.recency_from is None:
            print(line + "the click counter starts empty (--recency-from DATA|run warms it)", file=sys.stderr)
        else:
            report = click_window.warm_from_dataset(window, recommender.catalog, data)
            print(line + f"the click counter holds {report['events']} events of {report['path']} "
                  f"(times {report['from']} to {report['to']}; {report['skipped_items']} of items outside the "
                  "catalogue skipped)", file=sys.stderr)
    if pairs is not None:
        report = transition_counter.warm_from_dataset(pairs, recommender.catalog, data)
        print(f"transition prior: gamma {recommender.transition_gamma:g}; the transition counter holds "
              f"{report['pairs']} within-session pairs of {report['path']} (times {report['from']} to {report['to']}; "
              f"{report['skipped_items']} of items outside the catalogue skipped)", file=sys.stderr)


def cmd_serve(args):
    import json
    import socket
    from pathlib import Path

    try:
        import uvicorn

        from hiertcn_keras.serving.http_server import create_app, uvicorn_config
    except ImportError as error:
        raise ValueError(f"serve needs FastAPI and uvicorn ({error}): pip install 'hiertcn-keras[serving]'") from None
    from hiertcn_keras.serving.online_recommender import default_store_path
    from hiertcn_keras.serving.store_follower import is_store_directory

    store = args.store
    if store is None:
        path = default_store_path(args.run)
        store = f"sqlite:{path}"
        print(f"user store (default, outside the run folder; --store to change): {path}")
    follower = None
    if args.items is not None and is_store_directory(args.items):
        recommender, follower = _open_following(args, store)
    else:
        recommender = _open(args, store)
    if args.warm:
        if follower is not None:
            follower.factory.warm = True
        warmed = recommender.warm()
        update = (f"{warmed['functions']} compiled user-update functions ({warmed['compiled_now']} compiled now)"
                  if recommender.step.compiled else f"the {type(recommender.step).__name__} user update (nothing to "
                  "compile)")
        print(f"warmed: {update} and the retriever, in {warmed['seconds']:g} s", flush=True)
    store_path = getattr(recommender.store, "path", None)
    if store_path is not None and Path(args.run).resolve() in Path(store_path).resolve().parents:
        print(f"warning: the user store {store_path} is inside the run folder: retraining into "
              f"{args.run} would delete it")
    app = create_app(recommender, max_body_bytes=args.max_body_bytes, max_events=args.max_events,
                     max_k=args.max_k, body_timeout=args.body_timeout)
    if follower is not None:
        follower.ref = app.state.recommender
        app.state.follower = follower
    config = uvicorn_config(app, args.host, args.port, timeout_keep_alive=args.timeout_keep_alive,
                            head_timeout=args.head_timeout,
                            limit_concurrency=args.limit_concurrency, max_header_bytes=args.max_header_bytes,
                            access_log_enabled=not args.no_access_log)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        sock.close()
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    sock.listen(2048)
    host, port = sock.getsockname()[:2]
    print(f"item vectors: {recommender.catalog.source}")
    if follower is not None:
        print(f"following {args.items}: LATEST checked every {args.follow_seconds:g} s"
              if args.follow_seconds > 0 else f"following {args.items} on POST /admin/reload only")
        follower.start()
    print(f"retrieval: {json.dumps(recommender.retriever.report)}")
    print(f"user store: {recommender.store!r}")
    print(f"HTTP reference: http://{host}:{port}/docs")
    print(f"serving {recommender.run.run_dir} on http://{host}:{port} (Ctrl-C stops)", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if follower is not None:
            follower.stop()
        app.state.recommender.current.close()  # closes the (shared) user store


def _open_following(args, store):
    """`serve --items DIR` on a directory of dated stores: the LATEST store's recommender and its follower."""
    from hiertcn_keras.artifacts.store_directory import StoreDirectory
    from hiertcn_keras.serving.store_follower import DatedRecommenderFactory, StoreFollower

    try:
        _, latest = StoreDirectory(args.items).latest()
    except LookupError as error:
        raise ValueError(str(error)) from None
    factory = DatedRecommenderFactory.open(args.run, store, data_dir=args.data, session_gap=args.session_gap,
                                           retrieval=args.retrieval, retrieval_options=retrieval_options(args),
                                           unknown_items=args.unknown_items, out_of_order=args.out_of_order,
                                           step=getattr(args, "user_update", "auto"))
    recommender = factory(latest)
    warm_priors(args, recommender)  # the click window is shared by every store's recommender
    follower = StoreFollower(None, factory, args.items, current=latest, poll_seconds=args.follow_seconds)
    return recommender, follower


def read_history(path, user):
    """`(item, timestamp)` pairs of a history file, time-sorted (stable), other users dropped."""
    from pathlib import Path

    import pandas as pd

    from hiertcn_keras.artifacts.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"history file not found: {path}")
    sep = "\t" if path.suffix in (".tsv", ".tab") else ","
    frame = pd.read_csv(path, sep=sep, dtype={"item": str, "user": str, "item_id": str, "user_id": str})
    for ours, short in (("item_id", "item"), ("user_id", "user")):  # our log format's names
        if ours in frame.columns and short not in frame.columns:
            frame = frame.rename(columns={ours: short})
    missing = [c for c in ("item", "timestamp") if c not in frame.columns]
    if missing:
        raise DataError(f"missing columns {missing} (header must name item, timestamp[, user] or user_id, item_id, timestamp)", path=path)
    if "user" in frame.columns:
        frame = frame[frame["user"] == str(user)]
    times = pd.to_numeric(frame["timestamp"], errors="coerce")
    if times.isna().any():
        row = int(frame.index[times.isna().to_numpy()][0]) + 1
        raise DataError("not a number of seconds", path=path, row=row, column="timestamp")
    frame = frame.assign(timestamp=times).sort_values("timestamp", kind="stable")
    return list(zip(frame["item"].tolist(), frame["timestamp"].astype(float).tolist()))


def cmd_recommend(args):
    import collections
    import json

    if args.k < 1:
        raise ValueError(f"--k must be ≥ 1, got {args.k}")
    if args.log is not None:
        return _recommend_batch(args)
    if args.history is None or args.user is None:
        raise ValueError("give --user and --history (one user), or --log and --out (many users)")
    from hiertcn_keras.serving.item_catalog import UnknownItemError

    recommender = _open(args, "memory:")
    history = read_history(args.history, args.user)
    result = recommender.observe_batch([(args.user, item, t) for item, t in history])
    if result.error is not None:
        index, error = result.error
        hint = " (--unknown-items skip ignores them)" if isinstance(error, UnknownItemError) else ""
        raise ValueError(f"{args.history}: event {index + 1} of user {args.user!r}: {error}{hint}") from None
    statuses = collections.Counter(o.status for o in result.observations)
    recs = recommender.recommend(args.user, args.k, exclude_seen=not args.keep_seen, at=args.at)
    print(json.dumps({
        "user": args.user,
        "events": dict(statuses),
        "items": [{"item": i, "score": round(float(s), 6)} for i, s in zip(recs.items, recs.scores)],
    }, indent=2))


def _recommend_batch(args):
    import json
    from pathlib import Path

    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.cli.log_options import load_log
    from hiertcn_keras.serving.batch_recommend import read_users, recommend_batch, write_parquet

    if args.out is None:
        raise ValueError("--log needs --out FILE (the Parquet file to write)")
    if args.history is not None or args.user is not None:
        raise ValueError("--log replaces --user and --history; give one or the other")
    output_guard.check_output_file(args.out, inputs=[args.log, args.run], overwrite=args.overwrite)
    users = read_users(args.users) if args.users is not None else None
    log = load_log(args.log, args)
    args.unknown_items = "skip"  # counted and reported below
    recommender = _open(args, "memory:")
    result = recommend_batch(recommender, log.events, k=args.k, users=users, exclude_seen=not args.keep_seen,
                             at=args.at)
    write_parquet(result.table, args.out)
    print(json.dumps({"out": str(Path(args.out)), "rows": len(result.table), "loader_dropped": log.dropped,
                      **result.report}, indent=2))
