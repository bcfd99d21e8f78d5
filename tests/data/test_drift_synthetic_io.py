import pandas as pd

from hiertcn_keras.data.drift_synthetic import DriftConfig, generate_drift
from hiertcn_keras.data.drift_synthetic_io import is_drift_log, load_drift_oracle, save_drift

SMALL = DriftConfig(n_users=60, n_items=120, mean_sessions=4, seed=3)


def test_save_writes_the_sidecars(tmp_path):
    log = generate_drift(SMALL)
    path = save_drift(log, tmp_path / "d" / "log.csv")
    assert is_drift_log(path) and not is_drift_log(tmp_path / "other.csv")
    pd.testing.assert_frame_equal(pd.read_csv(path), log.events)
    oracle = pd.read_parquet(tmp_path / "d" / "log.oracle.parquet")
    assert list(oracle.columns) == ["user_id", "item_id", "timestamp", "true_session", "click_kind", "oracle_rank",
                                    "oracle_prob"]
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["log.csv", "log.generator.json", "log.oracle.parquet"]
    pd.testing.assert_frame_equal(load_drift_oracle(path), oracle)


def test_oracle_joins_a_prepared_drift_log(tmp_path):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.oracle import oracle_for_split
    from hiertcn_keras.data.prepare import prepare

    path = save_drift(generate_drift(SMALL), tmp_path / "log.csv")
    prepare(load(path, "generic")).write(tmp_path / "prep")
    data = PreparedDataset(tmp_path / "prep")
    result = oracle_for_split(path, data, "test")
    assert result["n_unmatched"] == 0 and result["n_events"] == data.stats["splits"]["test"]["scored_targets"] > 0
