import json

import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.data.prepare import PrepareConfig, prepare

H = 3600.0


def conserved(p):
    s = p.stats
    return s["n_events"] + sum(s["dropped"].values()) == s["n_rows_read"]


def test_sessions_order_and_tie_break(log_factory):
    # Unsorted input; u1's two events at t=100 keep source order (row 1 'b' before row 3 'c').
    log = log_factory([("u1", "a", 0), ("u1", "b", 100), ("u2", "a", 50), ("u1", "c", 100), ("u1", "d", 100 + H)])
    p = prepare(log, PrepareConfig(protocol="paper", split_fractions=(1.0, 0.0, 0.0)))
    items = p.item_ids[p.item - 1]
    assert items.tolist() == ["a", "b", "c", "d", "a"]
    assert p.user_ids[p.user - 1].tolist() == ["u1"] * 4 + ["u2"]
    assert p.session.tolist() == [0, 0, 0, 1, 2]
    assert p.position.tolist() == [0, 1, 2, 0, 0]
    assert p.stats["input_time_sorted"] is False
    assert conserved(p)


def test_drop_reasons_are_counted_in_documented_order(log_factory):
    rows = [
        ("u1", "a", 0, "1"),
        ("u1", "a", 0, "1"),  # exact duplicate -> duplicate
        ("u1", "b", 10, "4"),  # type 4 -> event_type
        ("u1", "rare", 20, "1"),  # item with 1 event -> item_support
        ("u1", "a", 30, "1"),
        ("u1", "c", 40, "1"),
        ("u1", "c", 50, "1"),
        ("u2", "a", 0, "1"),  # u2 keeps 1 event after the item filter -> user_too_few_events
        ("u3", "c", 0, "1"),
        ("u3", "a", 5 * H, "1"),  # u3: two sessions of one event each
    ]
    log = log_factory(rows, columns=("user", "item", "timestamp", "event_type"))
    cfg = PrepareConfig(drop_event_types=("4",), min_item_support=2, min_user_events=2)
    p = prepare(log, cfg)
    d = p.stats["dropped"]
    assert d["duplicate"] == 1 and d["event_type"] == 1 and d["item_support"] == 1
    assert d["user_too_few_events"] == 1
    assert p.stats["n_events"] == 6 and conserved(p)


def test_duplicates_separated_by_another_same_time_event_are_found(log_factory):
    log = log_factory([("u", "a", 5), ("u", "b", 5), ("u", "a", 5)])
    p = prepare(log, PrepareConfig(protocol="paper", split_fractions=(1, 0, 0)))
    assert p.stats["dropped"]["duplicate"] == 1
    p = prepare(log, PrepareConfig(drop_duplicates=False, protocol="paper", split_fractions=(1, 0, 0)))
    assert p.stats["dropped"]["duplicate"] == 0 and p.stats["n_events"] == 3


def test_truncation_repeats_and_short_sessions(log_factory):
    rows = [("u", x, i) for i, x in enumerate("aabcde")] + [("u", "z", 10 * H)]
    cfg = PrepareConfig(max_session_len=3, collapse_repeats=True, min_session_len=2,
                        protocol="paper", split_fractions=(1, 0, 0))
    p = prepare(log_factory(rows), cfg)
    d = p.stats["dropped"]
    # a a b c d e -> repeat drops the 2nd a -> a b c d e -> truncation keeps a b c (2 dropped);
    # the lone 'z' session is shorter than 2.
    assert (d["repeat"], d["session_truncated"], d["short_session"]) == (1, 2, 1)
    assert p.item_ids[p.item - 1].tolist() == ["a", "b", "c"]
    assert conserved(p)


def test_user_activity_upper_bound(log_factory):
    rows = [("big", f"i{k % 2}", k) for k in range(5)] + [("small", "i0", 0), ("small", "i1", 1)]
    p = prepare(log_factory(rows), PrepareConfig(max_user_events=4, protocol="paper", split_fractions=(1, 0, 0)))
    assert p.stats["dropped"]["user_too_many_events"] == 5
    assert p.user_ids.tolist() == ["small"]


def test_temporal_split_catalogue_and_unseen_targets(log_factory):
    # 10 events of one user at t = 0..9 h, one session each; 'new' appears only in the test period.
    items = ["a", "b", "a", "b", "a", "b", "c", "a", "a", "new"]
    log = log_factory([("u", x, k * H) for k, x in enumerate(items)])
    p = prepare(log)
    assert p.split.tolist() == [0] * 7 + [1, 2, 2]
    # Catalogue = items seen in training (a:3, b:3, c:1), most frequent first, ties by id.
    assert p.item_ids.tolist() == ["a", "b", "c", "new"] and p.n_catalogue == 3
    assert p.stats["splits"]["test"] == {"events": 2, "users": 1, "scored_targets": 1, "unseen_targets": 1}


def test_paper_protocol_splits_users_by_numeric_id(log_factory):
    rows = [(str(u), "a", u) for u in (10, 9, 100, 2, 1, 3, 4, 5, 6, 7)]
    p = prepare(log_factory(rows), PrepareConfig(protocol="paper"))
    # Numeric id order 1,2,3,4,5,6,7,9,10,100: the first 8 train, 10 valid, 100 test.
    split_of = dict(zip(p.user_ids[p.user - 1], p.split))
    assert split_of["100"] == 2 and split_of["10"] == 1 and split_of["9"] == 0
    assert p.user_ids.tolist() == ["1", "2", "3", "4", "5", "6", "7", "9", "10", "100"]


def test_write_and_read_back(tmp_path, log_factory):
    rows = [("u1", "a", 0), ("u1", "b", 60), ("u2", "b", 30), ("u2", "a", 90 + H), ("u1", "c", 5 * H)]
    p = prepare(log_factory(rows))
    p.write(tmp_path / "prep")
    data = PreparedDataset(tmp_path / "prep")
    assert data.n_items == len(p.item_ids) + 1
    assert data.stats["n_events"] == 5 and data.fingerprint == p.stats["fingerprint"]
    assert np.array_equal(data.events["item"], p.item)
    stats = json.loads((tmp_path / "prep" / "stats.json").read_text())
    for key in ("n_events", "n_users", "n_items", "n_sessions", "dropped", "session_length", "sessions_per_user"):
        assert key in stats
    assert [f.name for f in tmp_path.iterdir()] == ["prep"]  # no temporary folder left behind


def test_failed_write_leaves_nothing(tmp_path, log_factory, monkeypatch):
    p = prepare(log_factory([("u", "a", 0), ("u", "b", 1)]))
    import hiertcn_keras.data.prepare as prep_module

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(prep_module.vocabulary, "write_vocabulary", boom)
    with pytest.raises(OSError, match="disk full"):
        p.write(tmp_path / "prep")
    assert list(tmp_path.iterdir()) == []


def test_config_validation_echoes_value():
    with pytest.raises(ValueError, match="got 0"):
        PrepareConfig(max_session_len=0)
    with pytest.raises(ValueError, match="'weekly'"):
        PrepareConfig(protocol="weekly")
    with pytest.raises(ValueError, match="unknown prepare settings"):
        PrepareConfig.from_dict({"sesion_gap": 10})


def test_event_type_filter_without_column_is_an_error(log_factory):
    with pytest.raises(ValueError, match="no event type column"):
        prepare(log_factory([("u", "a", 0)]), PrepareConfig(drop_event_types=("4",)))
