"""The `export` verb: a trained run as a TensorFlow SavedModel for TF Serving."""

from __future__ import annotations

import textwrap

from hiertcn_keras.cli.common import formatter

ORDER = 45


def register(sub):
    """Adds `export` to the subparsers `sub`."""
    p = sub.add_parser(
        "export",
        help="write a HierTCN/HierGRU run as a TensorFlow SavedModel (history in, top-K out)",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            A SavedModel (TensorFlow backend) with one signature, serving_default: inputs
            `sessions` int32 [B, S, L] (item indices of the run's vocabulary, 0 = padding; the
            last non-empty row is the open session) and `gaps` float32 [B, S] (seconds between
            sessions; read only with state decay); outputs `embedding` [B, E], `item_ids` int32
            [B, K] and `scores` [B, K] over the full catalogue (never index 0, never the open
            session's items). OUT also holds item_ids.txt (line i = the id of index i) and
            hiertcn_export.json. docs/export.md shows how to serve it with TF Serving."""
        ),
        epilog=textwrap.dedent(
            """\
            example:
              hiertcn export runs/default/hiertcn --out runs/default/saved_model/1 --k 10"""
        ),
    )
    p.add_argument("run", metavar="RUN_DIR", help="a HierTCN/HierGRU run written by `hiertcn train`")
    p.add_argument("--out", required=True, metavar="DIR", help="the SavedModel folder to create")
    p.add_argument("--k", type=int, default=10, help="items returned per user (default 10)")
    p.add_argument("--sessions", type=int, default=None, metavar="S",
                   help="session rows per request (default: the run's sessions per batch)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="the run's prepared dataset if it moved (default: the path recorded in the run)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=cmd_export)


def cmd_export(args):
    import json

    from hiertcn_keras.serving.export import export_run

    info = export_run(args.run, args.out, k=args.k, sessions=args.sessions, data_dir=args.data,
                      overwrite=args.overwrite)
    print(f"wrote {info['path']}: signature {info['signature']}, inputs {json.dumps(info['inputs'])}, "
          f"outputs {json.dumps(info['outputs'])}, vocabulary {info['vocabulary']}")
