"""The `hiertcn` command line.

Each `verbs_*.py` module of this package holds a few related verbs: a `register(sub)` function
that adds their parsers, and an `ORDER` that places them in `hiertcn --help`. A new verb module
is picked up without touching this file. Heavy imports (pandas, TensorFlow, Keras) happen inside
the verbs, so that `hiertcn --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from hiertcn_keras.cli.common import formatter

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


def verb_modules():
    """The `verbs_*` modules of this package, in their `ORDER`."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("verbs_")]
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return sorted(modules, key=lambda module: (module.ORDER, module.__name__))


def build_parser():
    """The `hiertcn` argument parser with every verb."""
    parser = argparse.ArgumentParser(
        prog="hiertcn",
        formatter_class=formatter,
        description="HierTCN (WWW 2019) in Keras 3: prepare click logs, train and evaluate "
        "hierarchical session-aware recommenders.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module in verb_modules():
        module.register(sub)
    return parser


def main(argv=None):
    """Entry point of the `hiertcn` console script."""
    import os

    # TensorFlow's C++ start-up chatter (oneDNN, CPU features) is noise on a command line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    from hiertcn_keras.artifacts.errors import DataError

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
