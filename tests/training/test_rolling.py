import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training import rolling
from hiertcn_keras.training.trainer import model_config_for

DAY = 86400.0
T0 = 1507161600.0  # the fresh log's day 0 (2017-10-05T00:00Z)


@pytest.fixture(scope="module")
def data(fresh_data_dir):
    return PreparedDataset(fresh_data_dir)


def _index(data, item_id):
    return data.items["id"].tolist().index(item_id) + 1


def test_an_item_first_seen_in_a_period_is_a_candidate_from_the_next_one(data):
    found = {p.start: p for p in rolling.periods(data, "test", "day")}
    assert sorted(found) == [T0 + 4 * DAY, T0 + 5 * DAY]
    day4, day5 = found[T0 + 4 * DAY], found[T0 + 5 * DAY]
    n4, n3 = _index(data, "n4"), _index(data, "n3")
    assert not day4.candidates[n4] and day5.candidates[n4]
    assert day4.candidates[n3] and not day4.candidates[0]
    # n4's clicks on day 4 are targets but not scored; on day 5 they are.
    assert not (day4.view.score & (day4.view.item == n4)).any()
    assert (day5.view.score & (day5.view.item == n4)).sum() == 6


def test_coverage_counts_are_exact(data):
    found = list(rolling.periods(data, "test", "day"))
    # Each test day: 6 users × (old item, today's new item, yesterday's new item); today's is unseen.
    assert [(p.n_targets, p.n_scored) for p in found] == [(18, 12), (18, 12)]
    # A learned output table ranks the training catalogue only: the old items, not n3/n4.
    learned = list(rolling.periods(data, "test", "day", limit=data.n_catalogue + 1))
    assert [(p.n_targets, p.n_scored) for p in learned] == [(18, 6), (18, 6)]
    # Vectors from a store stamped a day earlier know one day less: n3 (day 4), n4 (day 5) are unknown.
    stale = list(rolling.periods(data, "test", "day", known_at=lambda start: start - DAY))
    assert [p.n_scored for p in stale] == [6, 6]


def test_history_is_replayed_up_to_the_period_end_only(data):
    day4 = next(rolling.periods(data, "test", "day"))
    assert day4.view.timestamp.max() < T0 + 5 * DAY
    assert day4.view.timestamp.min() < T0 + DAY  # the users' whole history, from day 0


def _pretrained_model(data, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(data.n_items, dim)).astype(np.float32)
    config = model_config_for(data, model="hiertcn", item_space="pretrained", output_dim=dim, embedding_dim=dim,
                              high_units=(dim,), tcn_channels=(dim,), kernel_size=2, batch_size=2,
                              sessions_per_batch=2)
    return build_recommender(config, matrix), matrix


def test_rolling_recommender_keeps_the_user_model_and_ranks_in_each_periods_vectors(data):
    model, matrix = _pretrained_model(data)
    table = model.user_model.get_layer("item_embedding").table
    before = [np.array(w) for w in model.trainable_weights]
    assert before and not any(w is table for w in model.trainable_weights)
    rng = np.random.default_rng(1)
    per_day = {T0 + d * DAY: rng.normal(size=matrix.shape).astype(np.float32) for d in (4, 5)}
    asked = []

    def vectors(start):
        asked.append(start)
        return per_day[start], start, f"day{int((start - T0) // DAY)}"

    result = rolling.rolling_evaluate_recommender(model, data, "day", vectors=vectors)
    assert asked == sorted(per_day)
    assert [r["store"] for r in result["periods"]] == ["day4", "day5"]
    assert (result["n_targets"], result["n_events"]) == (36, 24) and result["coverage"] == pytest.approx(24 / 36)
    assert [r["coverage"] for r in result["periods"]] == [pytest.approx(12 / 18)] * 2
    for w, w0 in zip(model.trainable_weights, before):  # the user model did not move
        np.testing.assert_array_equal(np.array(w), w0)
    np.testing.assert_array_equal(np.array(table), matrix)  # and its own item table is back
    # Day 4 ranks in day 4's vectors whatever came before: the same figures when every day uses them,
    # and other figures in the model's own table (so the swap reaches the compiled model).
    same = rolling.rolling_evaluate_recommender(model, data, "day", vectors=lambda s: (per_day[T0 + 4 * DAY], s, "d4"))
    own = rolling.rolling_evaluate_recommender(model, data, "day", vectors=lambda s: (matrix, s, "own"))
    assert same["periods"][0]["mrr"] == pytest.approx(result["periods"][0]["mrr"], abs=1e-6)
    assert own["periods"][0]["mrr"] != pytest.approx(result["periods"][0]["mrr"], abs=1e-6)


def test_rolling_needs_a_pretrained_space_for_period_vectors(data):
    config = model_config_for(data, model="gru", embedding_dim=4, flat_gru_units=(4,), batch_size=2)
    model = build_recommender(config)
    with pytest.raises(ValueError, match="pretrained"):
        rolling.rolling_evaluate_recommender(model, data, "day", vectors=lambda s: (None, s, ""))
    fixed = rolling.rolling_evaluate_recommender(model, data, "day")
    assert [(r["n_scored"], r["store"]) for r in fixed["periods"]] == [(6, "fixed"), (6, "fixed")]


def test_baselines_get_the_same_candidates_and_recent_popularity_is_causal(data):
    pop = rolling.rolling_evaluate_baseline(rolling.recent_popularity(24), data, "day", name="pop")
    assert [(r["n_targets"], r["n_scored"]) for r in pop["periods"]] == [(18, 12), (18, 12)]
    # Day 4's last 24 h (day 3): n3 and n2 have 6 clicks each, the old items 3 or 6; n3 is a top-2 item
    # (conservative ties), so its 6 targets have rank ≤ 2 and recall@5 counts them.
    day4 = pop["periods"][0]
    assert day4["recall@5"] >= 6 / 12
    sknn = rolling.rolling_evaluate_baseline(rolling.session_knn(), data, "day", name="sknn")
    assert [r["n_scored"] for r in sknn["periods"]] == [12, 12]
    assert "overall" in rolling.format_rolling(sknn)
