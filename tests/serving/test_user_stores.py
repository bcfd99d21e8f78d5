"""User-interest stores: the compare-and-set contract, fingerprints, concurrency, crash safety.

Every backend runs the same tests: `memory:`, SQLite (a file in tmp_path) and Redis (a real
`redis-server` started on 127.0.0.1 when installed; skipped with the reason otherwise).
Concurrency uses separate processes writing through the store with the online
read–modify–write–retry loop; crash safety kills a writer with SIGKILL in the middle of a
stream of updates whose records are self-checking (every float of the state equals the
record's event count), then checks that every record is whole.
"""

import dataclasses
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from hiertcn_keras.serving.user_state import UserState
from hiertcn_keras.serving.user_store import MemoryUserStore
from hiertcn_keras.serving.user_store_url import open_user_store

_spec = importlib.util.spec_from_file_location("redis_server_helper", Path(__file__).with_name("redis_server.py"))
redis_helper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(redis_helper)
REDIS_SKIP = redis_helper.unavailable_reason()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if REDIS_SKIP:
        pytest.skip(REDIS_SKIP)
    server = redis_helper.RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


def _url(request, tmp_path):
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'users.sqlite'}"
    url = request.getfixturevalue("redis_url")
    import redis

    redis.Redis.from_url(url).flushall()
    return url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request, tmp_path):
    return _url(request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def shared_store_url(request, tmp_path):
    """Backends that several processes share."""
    return _url(request, tmp_path)


def state(n, h=4):
    return UserState(np.full(h, float(n), np.float32), session=[n % 5 + 1], last_timestamp=float(n), n_events=n)


def test_state_encoding_round_trips():
    original = UserState(np.array([0.5, -1e-8, 3e7], np.float32), session=[3, 1], last_timestamp=12.5,
                         last_kept_timestamp=11.0, previous_item=1, items_at_last_timestamp=[1], n_events=4,
                         n_sessions=2)
    back = UserState.decode(*original.encode())
    np.testing.assert_array_equal(back.context, original.context)  # bit-exact float32
    assert back.session == [3, 1] and back.last_timestamp == 12.5 and back.n_sessions == 2


def test_compare_and_set(store_url):
    store = open_user_store(store_url, "fp-a")
    assert store.get("u") is None
    assert store.put("u", state(1), None)
    assert not store.put("u", state(9), None)  # exists already
    got, version = store.get("u")
    assert got.n_events == 1 and version == 1
    assert store.put("u", state(2), version)
    assert not store.put("u", state(3), version)  # stale version: another writer won
    got, version = store.get("u")
    assert got.n_events == 2 and version == 2 and float(got.context[0]) == 2.0
    assert store.users() == ["u"]
    store.delete("u")
    assert store.get("u") is None
    store.close()


def test_put_many_is_all_or_nothing(store_url):
    store = open_user_store(store_url, "fp-many")
    one, two = UserState.initial(3), UserState.initial(3)
    two.n_events = 7
    assert store.put_many([("a", one, None), ("b", two, None)])
    assert store.get("a")[1] == 1 and store.get("b")[0].n_events == 7
    store.put("b", two, 1)  # another writer moves b to version 2
    three = UserState.initial(3)
    three.n_events = 99
    assert not store.put_many([("a", three, 1), ("b", three, 1), ("c", three, None)])
    assert store.get("a")[0].n_events == 0 and store.get("b")[1] == 2 and store.get("c") is None  # nothing written
    assert store.put_many([("a", three, 1), ("b", three, 2), ("c", three, None)])
    assert [store.get(u)[0].n_events for u in "abc"] == [99, 99, 99]
    store.close()


def test_get_many_reads_what_get_reads(store_url):
    store, other = open_user_store(store_url, "fp-get-many"), open_user_store(store_url, "fp-other")
    for n in range(3):
        assert store.put(f"u{n}", state(n), None)
    store.put("u1", state(7), 1)  # u1 at version 2
    other.put("u9", state(9), None)  # another model's user is not this store's
    users = ["u2", "nobody", "u0", "u1", "u2", "u9"] + [f"x{k}" for k in range(600)]  # > one SELECT's chunk
    got = store.get_many(users)
    assert list(got) == list(dict.fromkeys(users))  # each user once, in order
    for user in got:
        expected = store.get(user)
        if expected is None:
            assert got[user] is None, user
            continue
        assert got[user][1] == expected[1]  # the version
        assert (got[user][0].session, got[user][0].n_events) == (expected[0].session, expected[0].n_events)
        np.testing.assert_array_equal(got[user][0].context, expected[0].context)
    assert got["u1"][1] == 2 and got["u1"][0].n_events == 7 and got["u9"] is None
    assert store.get_many([]) == {}
    store.close(), other.close()


def test_states_are_isolated_by_fingerprint(shared_store_url):
    a, b = open_user_store(shared_store_url, "model-a"), open_user_store(shared_store_url, "model-b")
    a.put("u", state(1), None)
    assert b.get("u") is None and b.users() == []
    a.close(), b.close()


def test_store_urls_are_validated():
    with pytest.raises(ValueError, match="sqlite:PATH"):
        open_user_store("postgres://x", "fp")
    with pytest.raises(ValueError, match="names no file"):
        open_user_store("sqlite:", "fp")
    assert isinstance(open_user_store("memory:", "fp"), MemoryUserStore)


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from hiertcn_keras.serving.user_state import UserState
    from hiertcn_keras.serving.user_store_url import open_user_store
    url, name, n_updates = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_user_store(url, "fp")
    def bump(user):
        while True:  # the online loop: read, modify, compare-and-set, retry on conflict
            got = store.get(user)
            old, version = got if got else (UserState.initial(64), None)
            n = old.n_events + 1
            new = UserState(np.full(64, float(n), np.float32), session=[n] * (n % 4), n_events=n)
            if store.put(user, new, version):
                return
    i = 0
    while n_updates < 0 or i < n_updates:
        bump(f"{name}-{i % 3}")   # this writer's own users
        bump("shared")             # one user every writer updates
        i += 1
    """
)


def run_writers(url, names, n_updates):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return [subprocess.Popen([sys.executable, "-c", WRITER, url, name, str(n_updates)], env=env) for name in names]


def test_concurrent_writers_lose_no_update(shared_store_url):
    store_url = shared_store_url
    writers = run_writers(store_url, ["w0", "w1", "w2"], 30)
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    store = open_user_store(store_url, "fp")
    for name in ("w0", "w1", "w2"):
        for j in range(3):
            assert store.get(f"{name}-{j}")[0].n_events == 10  # 30 updates over 3 users
    shared, version = store.get("shared")
    assert shared.n_events == 90 and version == 90  # every writer's every update landed once
    store.close()


def test_a_writer_killed_mid_update_leaves_the_store_consistent(shared_store_url):
    store_url = shared_store_url
    (writer,) = run_writers(store_url, ["k"], -1)  # writes until killed
    store = open_user_store(store_url, "fp")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = store.get("shared")
        if got is not None and got[0].n_events >= 40:
            break
        time.sleep(0.02)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    if store_url.startswith("sqlite:"):
        store.close()
        store = open_user_store(store_url, "fp")  # reopening recovers from the WAL
        assert store.integrity_check() == "ok"
    users = store.users()
    assert "shared" in users and len(users) == 4
    for user in users:
        record, version = store.get(user)
        n = record.n_events
        assert n >= 1 and version == n  # one version per committed update, none torn
        np.testing.assert_array_equal(record.context, np.full(64, float(n), np.float32))
        assert record.session == [n] * (n % 4)
    store.close()


def _old_json_record(state_):
    """A record as versions before the binary format wrote it: the vector's bytes and a JSON text."""
    import json

    meta = {"session": state_.session, "last_timestamp": state_.last_timestamp,
            "last_kept_timestamp": state_.last_kept_timestamp, "previous_item": state_.previous_item,
            "items_at_last_timestamp": state_.items_at_last_timestamp, "n_events": state_.n_events,
            "n_sessions": state_.n_sessions}
    return np.ascontiguousarray(state_.context, "<f4").tobytes(), json.dumps(meta, separators=(",", ":"))


def same(a, b):
    """Two `UserState`s field by field (the context bit-exact)."""
    fields = [f.name for f in dataclasses.fields(UserState) if f.name != "context"]
    return a.context.tobytes() == b.context.tobytes() and all(getattr(a, f) == getattr(b, f) for f in fields)


def test_the_binary_state_record_round_trips_and_json_records_are_still_read():
    from hiertcn_keras.serving.user_state import META_FORMAT

    returning = UserState(np.array([1.5, -2.0], np.float32), [7, 2**40, 3], 1.7e9 + 0.25, 1.7e9, 3, [3, 9], 12, 4)
    for original in (UserState.initial(3), returning):
        vector, meta = original.encode()
        assert isinstance(meta, bytes) and meta[0] == META_FORMAT
        for record in ((vector, meta), (vector, memoryview(meta)), _old_json_record(original),
                       (vector, _old_json_record(original)[1].encode())):  # Redis returns the JSON as bytes
            back = UserState.decode(*record)
            assert same(back, original) and back.context.dtype == np.float32
    with pytest.raises(ValueError, match="unknown format"):
        UserState.decode(vector, b"\x07" + meta[1:])
    with pytest.raises(ValueError, match="holds 32 bytes of items, its header says 5 items"):
        UserState.decode(vector, meta[:-8])


def test_a_store_reads_a_json_record_of_an_earlier_version_and_rewrites_it_binary(store_url):
    """A store written by an earlier version (meta as JSON text) is served as it is: its
    records are read, compare-and-set works on them, and the next write stores the binary
    record."""
    store = open_user_store(store_url, "fp")
    old = UserState(np.array([0.25, 4.0], np.float32), [5, 6], 100.0, 90.0, 6, [6], 3, 1)
    vector, text = _old_json_record(old)
    if store_url.startswith("sqlite:"):
        with store._conn() as conn:
            conn.execute("INSERT INTO user_state VALUES (?, ?, 1, ?, ?, 0.0)", ("fp", "u", vector, text))
    elif store_url.startswith("memory:"):
        store._records["u"] = (1, vector, text)
    else:
        store.client.hset(store._key("u"), mapping={"version": 1, "context": vector, "meta": text})
    got, version = store.get("u")
    assert version == 1 and got.session == [5, 6] and got.last_kept_timestamp == 90.0 and got.n_events == 3
    assert same(store.get_many(["u"])["u"][0], got)
    newer = dataclasses.replace(got, session=[5, 6, 7], n_events=4)
    assert store.put("u", newer, 1)
    back, version = store.get("u")
    assert version == 2 and same(back, newer)
    if store_url.startswith("sqlite:"):
        with store._conn() as conn:
            (meta,) = conn.execute("SELECT meta FROM user_state WHERE user = 'u'").fetchone()
        assert isinstance(meta, bytes) and meta[0] == 1
    store.close()
