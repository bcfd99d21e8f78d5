"""`spark-submit` entry point: `hiertcn prepare --engine spark` under a cluster's master.

    spark-submit --master yarn --deploy-mode client \
        $(python -c 'import hiertcn_keras.cli.spark_submit as m; print(m.__file__)') \
        --input /shared/logs --out /shared/prepared --events-per-bucket 2000000

The arguments are those of `hiertcn prepare` (`--engine spark` is implied); the session is the
one spark-submit configured (master, executors, memory). See docs/spark.md.
"""

from __future__ import annotations

import sys


def main(argv=None):
    """Run `hiertcn prepare --engine spark` with `argv` (default: the command line)."""
    from hiertcn_keras import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.main(["prepare", "--engine", "spark", *argv])


if __name__ == "__main__":
    sys.exit(main())
