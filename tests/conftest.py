"""Suite-wide: the modules that take longest and hold few tests start first.

`make test` runs the suite in pytest-xdist workers with `--dist loadscope
--no-loadscope-reorder`: each module goes whole, in collection order, to the worker that asks
next. The notebooks (one Jupyter kernel runs all six: minutes of CPU in one test's fixture) and
the Spark comparison (a JVM) therefore come first, so that they run beside the many short
modules instead of starting last while the other worker has nothing left to do. In one process
the order changes nothing else: each module's tests keep their order.
"""

FIRST = ("tests/notebooks/", "tests/data/spark/test_spark_prepare.py")


def _rank(item):
    return next((k for k, prefix in enumerate(FIRST) if item.nodeid.startswith(prefix)), len(FIRST))


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_rank)  # stable: the rest keeps the collection order
