"""A Spark session for `hiertcn prepare --engine spark` and the tests.

Under `spark-submit` (or any running application) the active session is used as it is, with
the cluster's master and settings. Otherwise a local session is started with settings meant
for one machine: Arrow transfers between the JVM and Python, no UI, a few shuffle partitions.
"""

from __future__ import annotations

import os
import sys


def get_session(master=None, *, app_name="hiertcn-prepare", shuffle_partitions=None, conf=None):
    """The active Spark session, or a new one.

    Args:
        master: str or `None`. E.g. `"local[2]"`. `None` keeps what `spark-submit` set, else
            `local[*]`. Defaults to `None`.
        app_name: str. Defaults to `"hiertcn-prepare"`.
        shuffle_partitions: int or `None`. `spark.sql.shuffle.partitions`; `None` keeps the
            setting (Spark's default 200), or 2 × cores for a new local session.
        conf: dict or `None`. More Spark settings.

    Returns:
        `pyspark.sql.SparkSession`.
    """
    from hiertcn_keras.data.spark import require_pyspark

    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        if shuffle_partitions is not None:
            active.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
        return active
    builder = SparkSession.builder.appName(app_name)
    # spark-submit starts the JVM first and tells the Python driver its port: keep the
    # master and settings it was given. Started from plain Python, we choose them.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    settings = {}
    if master is not None or not submitted:
        local = master or "local[*]"
        builder = builder.master(local)
        if shuffle_partitions is None and local.startswith("local"):
            inside = local[6:-1] if local.startswith("local[") else "1"
            cores = os.cpu_count() if inside in ("*", "") else int(inside.split(",")[0])
            shuffle_partitions = 2 * max(1, cores or 1)
        # Python workers run this interpreter (its virtual environment has this package).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings.update({
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": os.environ.get("HIERTCN_SPARK_DRIVER_MEMORY", "2g"),
        })
    settings.update({
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
    })
    if shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
