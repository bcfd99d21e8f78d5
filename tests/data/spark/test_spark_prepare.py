"""The Spark `prepare` writes exactly what the pandas `prepare` writes.

One local Spark session (`local[2]`, no UI, 2 shuffle partitions) serves the whole module:
starting one costs seconds. Each configuration prepares the same log with both engines and
compares the *complete* output: every event column (values and dtypes), both vocabularies,
`stats.json` (all but `prepare_seconds`), `config.json` (including the fingerprint) and the
co-interaction edge counts against `graph.cointeraction_graph` of the pandas output.
"""

import json
import os
import shutil

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark", reason="PySpark not installed: pip install 'hiertcn-keras[spark]'")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("no Java on this machine: Spark needs Java 17+ (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

from hiertcn_keras.artifacts.errors import DataError  # noqa: E402
from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.data.loaders import load  # noqa: E402
from hiertcn_keras.data.prepare import PrepareConfig, prepare  # noqa: E402
from hiertcn_keras.data.spark.cointeraction import read_cointeraction  # noqa: E402
from hiertcn_keras.data.spark.pipeline import SparkOptions, prepare_spark  # noqa: E402
from hiertcn_keras.data.spark.sources import plan_source  # noqa: E402
from hiertcn_keras.graph import cointeraction_graph  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
H = 3600.0


@pytest.fixture(scope="module")
def spark():
    from hiertcn_keras.data.spark.session import get_session

    session = get_session("local[2]", shuffle_partitions=2, app_name="hiertcn-tests",
                          conf={"spark.default.parallelism": "2",
                                # Adaptive re-planning only adds jobs on data this small.
                                "spark.sql.adaptive.enabled": "false",
                                # Compiling whole-stage Java code costs more than it saves here.
                                "spark.sql.codegen.wholeStage": "false",
                                # A test JVM lives for seconds: the quick JIT tier and one GC
                                # thread spend less CPU than the optimising tier would save.
                                "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def write_log(folder, seed=0, n_users=30):
    """Two CSV files (read in name order) with every hazard `prepare` handles.

    Numeric user ids with a tie in value ("7" and "007"), item ids "1" and "01", events out of
    time order across and within files, equal timestamps (source order breaks the tie), exact
    duplicates, consecutive repeats, long sessions (truncated), a type to exclude, rare items,
    users below/above the activity range, and bad rows (a bad time, a missing user, a missing
    item). Columns: numeric user `user_id`, text user `uname`, `item_id`, `timestamp`,
    `event_type`, source session `sid`.
    """
    rng = np.random.default_rng(seed)
    rows = []
    users = [str(u) for u in range(1, n_users + 1)] + ["007"]
    for k, user in enumerate(users):
        t = 1_600_000_000.0 + rng.integers(0, 5) * 86400
        for _ in range(int(rng.integers(1, 6))):
            for _ in range(int(rng.integers(1, 9))):
                item = str(int(rng.zipf(1.6)) % 25 + 1)
                item = "01" if item == "1" and rng.random() < 0.3 else item
                etype = rng.choice(["view", "view", "cart", "del"])
                sid = f"s{k}-{int(t // 7200)}"
                rows.append((user, f"u{user}", item, f"{t:.1f}", etype, sid))
                if rng.random() < 0.15:
                    rows.append(rows[-1])  # exact duplicate
                if rng.random() < 0.1:
                    rows.append((user, f"u{user}", str(int(item) % 25 + 1), f"{t:.1f}", "view", sid))
                t += float(rng.choice([0, 5, 60, 300, 1799, 1800]))
            t += float(rng.choice([1800, 4000, 90000]))
    rows.append(("big", "ubig", "3", "1600000000", "view", "sb"))
    rows += [("big", "ubig", str(k % 4 + 2), str(1_600_000_000 + k), "view", "sb") for k in range(70)]
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    rows.insert(5, ("3", "u3", "2", "not-a-time", "view", "s"))
    rows.insert(9, ("", "", "2", "1600000100", "view", "s"))
    rows.insert(20, ("4", "u4", "", "1600000100", "view", "s"))
    folder.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    for name, part in (("a.csv", rows[:half]), ("b.csv", rows[half:])):
        with open(folder / name, "w") as f:
            f.write("user_id,uname,item_id,timestamp,event_type,sid\n")
            f.writelines(",".join(r) + "\n" for r in part)
    return folder


def assert_same(pandas_dir, spark_dir, window=None):
    a, b = PreparedDataset(pandas_dir), PreparedDataset(spark_dir)
    assert (spark_dir / "events").is_dir() and not (spark_dir / "events.parquet").exists()
    for column, values in a.events.items():
        assert b.events[column].dtype == values.dtype, column
        np.testing.assert_array_equal(b.events[column], values, err_msg=column)
    assert a.items.equals(b.items) and a.users.equals(b.users)
    stats_a, stats_b = dict(a.stats), dict(b.stats)
    stats_a.pop("prepare_seconds"), stats_b.pop("prepare_seconds")
    assert json.dumps(stats_b) == json.dumps(stats_a)  # same content, same key order
    # Identical but for the per-file record: the engines lay the events out differently.
    assert {k: v for k, v in b.config.items() if k != "files"} == {k: v for k, v in a.config.items() if k != "files"}
    assert b.fingerprint == a.fingerprint and a.verified == b.verified == "files"
    if window is not None:
        expected = cointeraction_graph(a.view("train"), a.n_items, window=window)
        got = read_cointeraction(spark_dir)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert (got != expected).nnz == 0 and got.nnz == expected.nnz > 0
    return a


def run_both(spark, tmp_path, source, config, *, fmt="generic", window=None, per_bucket=40, **options):
    prepare(load(source, fmt, **options), config).write(tmp_path / "pandas")
    stats = prepare_spark(spark, plan_source(source, fmt, **options), config, tmp_path / "spark",
                          SparkOptions(events_per_bucket=per_bucket, graph_window=window))
    data = assert_same(tmp_path / "pandas", tmp_path / "spark", window)
    assert stats["fingerprint"] == data.fingerprint
    return data


def test_temporal_gap_sessions_every_filter(spark, tmp_path):
    # Item support > 1 separates duplicates (per user) from the activity and session steps by
    # a global count: the two-stage path.
    config = PrepareConfig(drop_event_types=("del",), min_item_support=3, min_user_events=3,
                           max_user_events=60, collapse_repeats=True, max_session_len=4,
                           min_session_len=2)
    data = run_both(spark, tmp_path, write_log(tmp_path / "log"), config, window=2,
                    event_col="event_type", on_bad_rows="drop")
    dropped = data.stats["dropped"]
    # Every step had something to do, so the comparison covers every counter.
    for reason in ("bad_timestamp", "missing_user", "missing_item", "event_type", "duplicate",
                   "item_support", "user_too_few_events", "user_too_many_events", "repeat",
                   "session_truncated", "short_session"):
        assert dropped[reason] > 0, reason
    assert len(list((tmp_path / "spark" / "events").glob("part-*.parquet"))) > 3
    assert data.stats["input_time_sorted"] is False


# The default suite compares the engines once (the two-stage path above, every counter); this
# one-stage variant runs with the other slow ones (make test-all).
@pytest.mark.slow
def test_paper_split_column_sessions_text_ids(spark, tmp_path):
    # Min support 1: duplicates, activity and sessions in one per-bucket stage.
    config = PrepareConfig(protocol="paper", split_fractions=(0.6, 0.2, 0.2), sessions="column",
                           drop_duplicates=False, max_session_len=5)
    run_both(spark, tmp_path, write_log(tmp_path / "log", seed=1), config, window=0,
             user_col="uname", session_col="sid", on_bad_rows="drop", per_bucket=25)


def test_first_bad_row_is_reported_like_the_loader(spark, tmp_path):
    log = write_log(tmp_path / "log")
    with pytest.raises(DataError) as pandas_error:
        load(log, "generic")
    with pytest.raises(DataError) as spark_error:
        prepare_spark(spark, plan_source(log, "generic"), PrepareConfig(), tmp_path / "out")
    assert str(spark_error.value) == str(pandas_error.value)
    assert "a.csv: row 6, column 'timestamp'" in str(spark_error.value)
    assert not (tmp_path / "out").exists()


def test_kth_smallest_is_exact_through_narrowing(spark):
    from hiertcn_keras.data.spark.order_statistic import kth_smallest

    rng = np.random.default_rng(3)
    t = np.round(rng.exponential(1000.0, 3000), 1)  # many ties, skewed
    df = spark.createDataFrame([(float(x),) for x in t], "timestamp double")
    ks = [0, 2399, 2999]
    # 16 bins and at most 400 values resolved at once: the skewed first bin needs a second
    # narrowing pass inside it.
    got = kth_smallest(df, "timestamp", ks, bins=16, max_distinct=400)
    assert got == [float(v) for v in np.sort(t)[ks]]


@pytest.mark.slow
@pytest.mark.parametrize("fmt, source, settings", [
    ("globo", "globo", {"sessions": "column"}),
    ("globo", "globo/empty_hour", {}),  # a header-only hour: skipped and listed by both engines
    ("xing", "xing/interactions.csv", {"min_item_support": 1, "min_user_events": 1}),
    ("movielens", "movielens/ml-100k", {}),
    ("generic", "generic/log.csv", {"protocol": "paper"}),
])
def test_dataset_fixtures(spark, tmp_path, fmt, source, settings):
    path = os.path.join(FIXTURES, source)
    preset = plan_source(path, fmt).preset
    run_both(spark, tmp_path, path, PrepareConfig.from_dict({**preset, **settings}), fmt=fmt, window=3,
             per_bucket=7)
