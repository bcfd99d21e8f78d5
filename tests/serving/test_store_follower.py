"""Serving follows a directory of dated item stores: swaps under load, failed reloads, the reference.

Two stores with disjoint candidate sets (the even and the odd vocabulary items) make every
response name its store twice: the `item_store` field, and which items it holds. Users whose
state is not changed during the test are checked exactly: their top-k under each store is
computed beforehand, and each response must equal the one of the store it names.
"""

import http.client
import json
import threading
import time

import numpy as np
import pytest

from hiertcn_keras.artifacts.embedding_store import write_store
from hiertcn_keras.artifacts.store_directory import StoreDirectory
from hiertcn_keras.serving.http_server import RecommenderRef, RecommenderServer, create_app
from hiertcn_keras.serving.serving_run import ServingRun
from hiertcn_keras.serving.store_follower import DatedRecommenderFactory, StoreFollower, is_store_directory
from hiertcn_keras.serving.user_store_url import open_user_store

T0 = 1_500_000_000.0


def _write(directory, until, run, keep, seed, *, dim=6, nan=False):
    ids = [None] + list(run.item_ids[1:])
    matrix = np.random.default_rng(seed).normal(size=(len(ids), dim)).astype(np.float32)
    matrix[[i for i in range(len(ids)) if i not in keep]] = 0.0
    config = {"until": until, "data_fingerprint": run.record["data"]["fingerprint"]}
    path = write_store(directory.path_for(until), matrix, ids, config=config)
    if nan:  # damage it after writing: one value becomes NaN
        data = np.fromfile(path / "embeddings.bin", np.float32)
        data[dim + 1] = np.nan
        data.tofile(path / "embeddings.bin")
    return path


@pytest.fixture(scope="module")
def world(pretrained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("follow")
    run = ServingRun.open(pretrained_run)
    n = len(run.item_ids)
    directory = StoreDirectory(root / "stores")
    even = _write(directory, T0, run, set(range(2, n, 2)), seed=1)
    odd = _write(directory, T0 + 3600, run, set(range(1, n, 2)), seed=2)
    directory.set_latest(even)
    store = open_user_store(f"sqlite:{root / 'users.sqlite'}", run.fingerprint)
    factory = DatedRecommenderFactory(pretrained_run, store)
    candidates = {even.name: set(run.item_ids[2:n:2]), odd.name: set(run.item_ids[1:n:2])}
    yield directory, factory, candidates, run
    store.close()


def _get(address, path, method="GET", body=None):
    conn = http.client.HTTPConnection(*address, timeout=60)
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    out = response.status, json.loads(response.read() or b"null")
    conn.close()
    return out


def test_a_store_directory_is_told_from_a_store(world):
    directory, _, _, _ = world
    assert is_store_directory(directory.root)
    assert not is_store_directory(directory.latest()[1])


def test_stores_swap_under_concurrent_clients_and_every_response_is_one_stores(world):
    directory, factory, candidates, run = world
    even, odd = (path for _, path in directory.stores())
    first = factory(even)
    fixed = ["f0", "f1", "f2"]
    for k, user in enumerate(fixed):  # their states are written once, in the even store
        first.observe_many([(user, run.item_ids[2 + 2 * k], T0 + 10), (user, run.item_ids[4], T0 + 20)])
    expected = {even.name: {u: first.recommend(u, k=5) for u in fixed}}

    server = RecommenderServer(first, port=0, limit_concurrency=64).start()
    follower = StoreFollower(server.app.state.recommender, factory, directory.root, current=even, poll_seconds=0)
    server.app.state.follower = follower
    directory.set_latest(odd)
    assert follower.poll()["store"] == odd.name  # the watcher's path: LATEST changed, so reload
    served_odd = server.app.state.recommender.current
    expected[odd.name] = {u: served_odd.recommend(u, k=5) for u in fixed}
    for user in fixed:  # the two stores rank differently: a response can tell them apart
        assert expected[even.name][user].items != expected[odd.name][user].items
    errors, seen, stop = [], {even.name: 0, odd.name: 0}, threading.Event()
    lock = threading.Lock()

    def reader(user):
        while not stop.is_set():
            status, body = _get(server.server_address, f"/users/{user}/recommendations?k=5")
            if status != 200:
                errors.append((status, body))
                continue
            want = expected[body["item_store"]][user]
            got_items = [i["item"] for i in body["items"]]
            got_scores = [i["score"] for i in body["items"]]
            if got_items != want.items or not np.allclose(got_scores, want.scores, atol=1e-5):
                errors.append(("mismatch", body["item_store"], got_items, want.items))
            with lock:
                seen[body["item_store"]] += 1
            time.sleep(0.01)  # a steady load, not a spin: the swaps are built on the same 2 cores

    def writer(user):
        t = T0 + 100
        while not stop.is_set():
            t += 30
            item = run.item_ids[1 + int(t) % (len(run.item_ids) - 1)]
            status, body = _get(server.server_address, "/events", "POST",
                                {"user": user, "item": item, "timestamp": t})
            if status != 200:
                errors.append((status, body))
            status, body = _get(server.server_address, f"/users/{user}/recommendations?k=3")
            if status != 200 or not {i["item"] for i in body["items"]} <= candidates[body["item_store"]]:
                errors.append((status, body))
            time.sleep(0.01)

    threads = [threading.Thread(target=reader, args=(u,)) for u in fixed]
    threads += [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(2)]
    try:
        for thread in threads:
            thread.start()
        replies = []
        for target in (even, odd, even):  # each built on the model copy the store before last used
            directory.set_latest(target)
            status, reply = _get(server.server_address, "/admin/reload", "POST")
            replies.append((status, reply))
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        status, health = _get(server.server_address, "/healthz")
    finally:
        stop.set()
        server.stop()
    assert errors == []
    assert [(s, r["status"], r["store"]) for s, r in replies] == [
        (200, "reloaded", even.name), (200, "reloaded", odd.name), (200, "reloaded", even.name)]
    assert seen[even.name] > 0 and seen[odd.name] > 0
    assert status == 200 and health["item_store"]["store"] == even.name
    assert health["item_store"]["stamp"] == "2017-07-14T02:40:00Z" and health["item_store"]["following"]["reloads"] == 4
    assert first.released and served_odd.released  # let go once idle (their model copies reused)


def test_a_failed_reload_keeps_the_old_store_and_names_the_file(world):
    from fastapi.testclient import TestClient

    directory, factory, _, run = world
    good = directory.stores()[0][1]
    rec = factory(good)
    # An event on an item the store lacks (odd items are zero rows of the even store) is applied and counted.
    observation = rec.observe("z", run.item_ids[1], T0 + 5)
    assert observation.accepted and rec.counts()["item_not_in_store"] == 1
    assert set(rec.recommend("z", k=50).items) <= set(run.item_ids[2::2])
    app = create_app(rec)
    follower = StoreFollower(app.state.recommender, factory, directory.root, current=good, poll_seconds=0)
    app.state.follower = follower
    n = len(run.item_ids)
    bad = _write(directory, T0 + 7200, run, set(range(1, n)), seed=3, nan=True)
    wide = _write(directory, T0 + 10800, run, set(range(1, n)), seed=4, dim=8)
    try:
        for broken, needle in ((bad, "embeddings.bin"), (wide, "dim 8")):
            directory.set_latest(broken)
            assert follower.poll() is None  # the watcher logs it and keeps serving
            assert app.state.recommender.current is rec
            with pytest.raises(Exception) as caught:
                follower.reload()
            assert needle in str(caught.value) and broken.name in caught.value.store
        # Over HTTP: a client from another machine gets 403; a local one the JSON error.
        assert TestClient(app, client=("10.1.2.3", 5000)).post("/admin/reload").status_code == 403
        reply = TestClient(app, client=("127.0.0.1", 5000)).post("/admin/reload")
        assert reply.status_code == 422 and reply.json()["store"].endswith(wide.name)
        assert reply.json()["serving"] == good.name and "dim 8" in reply.json()["error"]
        assert TestClient(app, client=("127.0.0.1", 5000)).get("/healthz").json()["item_store"]["store"] == good.name
        assert follower.failures == 5 and follower.last_error["store"].endswith(wide.name)
    finally:
        directory.set_latest(directory.stores()[1][1])


def test_the_reference_releases_the_old_recommender_after_its_last_request():
    released = []
    ref = RecommenderRef("old")
    with ref.use() as a:
        with ref.use() as b:
            assert ref.swap("new", on_idle=released.append) == "old"
            with ref.use() as c:
                assert (a, b, c) == ("old", "old", "new")
        assert released == [] and ref.in_flight("old") == 1
    assert released == ["old"] and ref.in_flight("new") == 0
    ref.swap("newer", on_idle=released.append)  # nothing holds "new": released at once
    assert released == ["old", "new"]


@pytest.mark.slow
def test_recommenders_of_successive_stores_share_one_click_window(prior_run, tmp_path):
    """A run with the recency prior: a reload keeps the live click counts, and each store's
    retriever applies them to its own candidates only."""
    run = ServingRun.open(prior_run)
    n = len(run.item_ids)
    directory = StoreDirectory(tmp_path / "stores")
    even = _write(directory, T0, run, set(range(2, n, 2)), seed=1)
    odd = _write(directory, T0 + 3600, run, set(range(1, n, 2)), seed=2)
    factory = DatedRecommenderFactory(prior_run, open_user_store("memory:", run.fingerprint))
    first = factory(even)
    first.observe("u", run.item_ids[2], T0)  # an even item: a candidate of the first store only
    first.observe("v", run.item_ids[3], T0 + 1)  # an odd item
    second = factory(odd)
    assert second.clicks is first.clicks and second.clicks.dense_counts(None)[[2, 3]].tolist() == [1, 1]
    items = second.recommend("new", k=n, exclude_seen=False).indices.tolist()
    assert 3 in items and 2 not in items  # boosted items outside the store's candidates stay out
