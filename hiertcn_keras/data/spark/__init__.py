"""The `prepare` pipeline on Apache Spark (optional: `pip install hiertcn-keras[spark]`).

`prepare_spark` reads the same formats, runs the same steps and writes the same prepared
folder as `hiertcn_keras.data.prepare`, with the events as part files under `events/` so that
the work and the output scale past one machine (docs/spark.md). Nothing here imports PySpark
at module level: `import hiertcn_keras.data.spark` works without it, and `require_pyspark`
says how to install it.
"""

from __future__ import annotations

INSTALL_HINT = "the Spark engine needs PySpark: pip install 'hiertcn-keras[spark]' (and Java 17+)"


def require_pyspark():
    """Import and return `pyspark`, or raise `ImportError` saying how to install it."""
    try:
        import pyspark
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return pyspark


def prepare_spark(*args, **kwargs):
    """See `hiertcn_keras.data.spark.pipeline.prepare_spark`."""
    require_pyspark()
    from hiertcn_keras.data.spark.pipeline import prepare_spark as run

    return run(*args, **kwargs)


__all__ = ["INSTALL_HINT", "prepare_spark", "require_pyspark"]
