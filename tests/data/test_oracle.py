from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.data.loaders import load
from hiertcn_keras.data.oracle import oracle_for_split
from hiertcn_keras.data.prepare import prepare
from hiertcn_keras.data.synthetic import SyntheticConfig, generate
from hiertcn_keras.data.synthetic_io import save


def test_oracle_joins_every_scored_target(tmp_path):
    log_path = tmp_path / "log.csv"
    save(generate(SyntheticConfig(n_users=60, n_items=80, n_topics=4, seed=3)), log_path)
    prepare(load(log_path, "generic")).write(tmp_path / "prep")
    data = PreparedDataset(tmp_path / "prep")
    result = oracle_for_split(log_path, data, "test")
    assert result["n_unmatched"] == 0
    assert result["n_events"] == data.stats["splits"]["test"]["scored_targets"] > 0
    assert 0.0 < result["recall@1"] <= result["recall@10"] <= result["recall@20"] <= 1.0
