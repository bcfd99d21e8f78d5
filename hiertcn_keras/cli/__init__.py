"""The `hiertcn` command line.

Each `verbs_*.py` module of this package holds a few related verbs: a `register(sub)` function
that adds their parsers, and an `ORDER` that places them in `hiertcn --help`. A new verb module
is picked up without touching this file. Heavy imports (pandas, TensorFlow, Keras) happen inside
the verbs, so that `hiertcn --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys

from hiertcn_keras.cli.common import formatter
from hiertcn_keras.cli.quiet import mute_tensorflow_startup

EPILOG = """\
examples:
  hiertcn synth --out runs/default/log.csv --users 2000 --items 1000 --seed 7
  hiertcn prepare --input runs/default/log.csv --format generic --out runs/default/prepared
  hiertcn stats runs/default/prepared
  hiertcn train --data runs/default/prepared --model hiertcn --out runs/default/hiertcn --epochs 10
  hiertcn evaluate --data runs/default/prepared --run runs/default/hiertcn --out test.json
  hiertcn evaluate --data runs/default/prepared --model pop --out pop.json
  hiertcn compare --data runs/default/prepared --models hiertcn gru mv pop --out runs/default/compare

Run `hiertcn VERB --help` for each verb's options and examples; docs/cli.md has them all.
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module in verb_modules():
        module.register(sub)
    for verb_parser in sub.choices.values():
        verb_parser.set_defaults(verb_parser=verb_parser)
    return parser


def package_version():
    """The installed distribution's version, or `"unknown"` when running from an uninstalled tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hiertcn-keras")
    except PackageNotFoundError:
        return "unknown"


def flags_named_as_flags(message, verb_parser):
    """Rewrites a library keyword in an error message as the verb's flag.

    Library code names its keywords (`on_bad_rows='drop'`); on the command line the same
    choice is a flag (`--on-bad-rows drop`). Only keywords that are flags of the verb are
    rewritten.

    Args:
        message: str. The error message.
        verb_parser: argparse.ArgumentParser. The verb's parser (its usage lists its flags).

    Returns:
        The message, with `name='value'` replaced by `--name value` for each flag of the verb.
    """
    usage = verb_parser.format_usage()

    def as_flag(match):
        flag = "--" + match.group(1).replace("_", "-")
        if re.search(re.escape(flag) + r"(?![\w-])", usage):
            return f"{flag} {match.group(3)}"
        return match.group(0)

    return re.sub(r"\b([a-z][a-z0-9_]*)=(['\"])([^'\"]*)\2", as_flag, message)


def main(argv=None):
    """Entry point of the `hiertcn` console script.

    Returns:
        The exit status: 0 on success, 2 for a usage or data error (one line on stderr,
        `hiertcn VERB: error: ...`, no traceback), 141 when stdout was closed early
        (`hiertcn stats DIR | head -1`).
    """
    # TensorFlow's C++ start-up chatter (oneDNN, CPU features, "failed call to cuInit" from the
    # GPU wheel on a machine without a GPU) is noise on a command line: raise TensorFlow's log
    # threshold to errors-hidden and mute what its native libraries print while they load,
    # before anything imports it (hiertcn_keras/cli/quiet.py says why both are needed).
    # `TF_CPP_MIN_LOG_LEVEL=0 hiertcn ...` shows everything again.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    mute_tensorflow_startup()
    parser = build_parser()
    args = parser.parse_args(argv)
    from hiertcn_keras.artifacts.errors import DataError

    try:
        args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
    except (DataError, FileNotFoundError, FileExistsError, ValueError) as error:
        message = flags_named_as_flags(str(error), args.verb_parser)
        print(f"hiertcn {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as `cat` would. Point stdout at the
        # null device so that the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as error:  # unwritable or vanished paths: the message names the file
        print(f"hiertcn {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # an allocation failure the memory check did not prevent
        from hiertcn_keras.training import memory_check

        if not memory_check.is_allocation_failure(error):
            raise
        print(f"hiertcn {args.verb}: error: {memory_check.allocation_failure_message(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
