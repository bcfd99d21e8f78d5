"""The HTTP API in process (FastAPI's TestClient): routes, validation, limits, the OpenAPI reference.

Every malformed request must get a 4xx with a JSON `{"error": message}`, never a 5xx.
`test_http_socket.py` covers what needs a real socket (timeouts, disconnects).
"""

import urllib.parse

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hiertcn_keras.serving.http_server import create_app
from hiertcn_keras.serving.online_recommender import OnlineRecommender


@pytest.fixture(scope="module")
def recommender(learned_run, tmp_path_factory):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path_factory.mktemp('http') / 'users.sqlite'}")
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def client(recommender):
    app = create_app(recommender, max_body_bytes=4096, max_events=5, max_k=50)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def post(client, body):
    if isinstance(body, bytes):
        return client.post("/events", content=body, headers={"Content-Type": "application/json"})
    return client.post("/events", json=body)


def test_healthz_reports_the_model_and_retrieval(client, recommender):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok" and body["model"] == "hiertcn"
    assert body["retrieval"]["kind"] == "exact" and body["n_catalogue"] == recommender.catalog.n_catalogue


def test_events_then_recommendations(client, recommender):
    response = post(client, {"user": "h1", "item": "i1", "timestamp": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["results"][0] == {"user": "h1", "item": "i1", "status": "new_session",
                                                             "position": 0}
    batch = {"events": [{"user": "h1", "item": "i2", "timestamp": 20}, {"user": 7, "item": "i3", "timestamp": 30.5}]}
    body = post(client, batch).json()
    assert [r["status"] for r in body["results"]] == ["kept", "new_session"] and body["results"][1]["user"] == "7"
    response = client.get("/users/h1/recommendations?k=4")
    assert response.status_code == 200 and len(response.json()["items"]) == 4
    direct = recommender.recommend("h1", 4)
    assert [x["item"] for x in response.json()["items"]] == direct.items
    np.testing.assert_allclose([x["score"] for x in response.json()["items"]], direct.scores, rtol=1e-6)
    body = client.get("/users/h1/state").json()
    assert body["n_events"] == 2 and body["session"] == ["i1", "i2"] and body["last_timestamp"] == 20


def test_a_bare_array_of_events_is_a_batch(client):
    body = post(client, [{"user": "arr", "item": "i1", "timestamp": 5}, {"user": "arr", "item": "i2", "timestamp": 6}])
    assert body.status_code == 200 and body.json()["applied"] == 2
    assert client.get("/users/arr/state").json()["session"] == ["i1", "i2"]


def test_user_ids_are_url_decoded(client):
    user = "a b/ç"
    post(client, {"user": user, "item": "i4", "timestamp": 1})
    response = client.get(f"/users/{urllib.parse.quote(user, safe='')}/state")
    assert response.status_code == 200 and response.json()["user"] == user


EVENT = {"user": "x", "item": "i1", "timestamp": 1}
BAD_REQUESTS = [
    ("POST", "/events", b"{not json", 422),
    ("POST", "/events", b"\xff\xfe", 422),
    ("POST", "/events", b"", 422),
    ("POST", "/events", {"user": "x", "item": "i1"}, 422),  # no timestamp
    ("POST", "/events", {**EVENT, "extra": 2}, 422),
    ("POST", "/events", {**EVENT, "user": True}, 422),
    ("POST", "/events", {**EVENT, "user": ""}, 422),
    ("POST", "/events", {**EVENT, "item": ["i1"]}, 422),
    ("POST", "/events", b'{"user": "x", "item": "i1", "timestamp": NaN}', 422),
    ("POST", "/events", {**EVENT, "timestamp": "soon"}, 422),
    ("POST", "/events", b'{"user": "\\ud800", "item": "i1", "timestamp": 1}', 422),  # a lone surrogate
    ("POST", "/events", b'{"user": 1' + b"0" * 400 + b', "item": "i1", "timestamp": 1}', 422),
    ("POST", "/events", b'{"user": "x", "item": "i1", "timestamp": 1' + b"0" * 400 + b"}", 422),
    ("POST", "/events", {**EVENT, "user": "5" * 300}, 422),
    ("POST", "/events", b"[" * 2000 + b"]" * 2000, 422),  # deep nesting (under the size limit)
    ("POST", "/events", {"events": []}, 422),
    ("POST", "/events", [], 422),
    ("POST", "/events", {"events": "no"}, 422),
    ("POST", "/events", {"events": [1]}, 422),
    ("POST", "/events", [1, 2], 422),
    ("POST", "/events", 5, 422),
    ("POST", "/events", {"events": [EVENT] * 6}, 413),
    ("POST", "/events", b"x" * 5000, 413),
    ("POST", "/events", {"user": "x", "item": "nope", "timestamp": 1}, 422),
    ("GET", "/users/x/recommendations?k=0", None, 422),
    ("GET", "/users/x/recommendations?k=51", None, 422),
    ("GET", "/users/x/recommendations?k=ten", None, 422),
    ("GET", "/users/x/recommendations?exclude_seen=maybe", None, 422),
    ("GET", "/users/x/recommendations?at=inf", None, 422),
    ("GET", "/users/x/recommendations?at=-5", None, 422),
    ("GET", f"/users/{'u' * 300}/state", None, 422),
    ("GET", "/users/never-seen/state", None, 404),
    ("GET", "/nowhere", None, 404),
    ("GET", "/events", None, 405),
    ("DELETE", "/healthz", None, 405),
]


@pytest.mark.parametrize("method,path,body,expected", BAD_REQUESTS)
def test_bad_input_gets_a_4xx_with_a_message(client, method, path, body, expected):
    if method == "POST":
        response = post(client, body)
    else:
        response = client.request(method, path)
    assert response.status_code == expected, response.text
    payload = response.json()
    assert isinstance(payload["error"], str) and payload["error"]


@pytest.mark.parametrize("timestamp,words", [(-1, "≥ 0"), (1e300, "≤ 4102444800"),
                                             (1_700_000_000_000, "milliseconds")])
def test_implausible_timestamps_are_422_with_the_reason(client, timestamp, words):
    response = post(client, {"user": "t", "item": "i1", "timestamp": timestamp})
    assert response.status_code == 422 and words in response.json()["error"]
    assert "timestamp" in response.json()["error"]


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "HEAD", "PUT", "TRACE"])
@pytest.mark.parametrize("path", ["/events", "/users/x/recommendations", "/users/x/state", "/healthz", "/metrics"])
def test_every_other_method_is_405_with_allow(client, method, path):
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"]
    if method != "HEAD":
        assert response.json()["error"].startswith(method)


def test_a_rejected_batch_event_stops_the_batch_and_says_what_was_applied(client):
    events = [{"user": "b1", "item": "i1", "timestamp": 100}, {"user": "b1", "item": "i2", "timestamp": 50},
              {"user": "b1", "item": "i3", "timestamp": 200}]
    response = post(client, {"events": events})
    body = response.json()
    assert response.status_code == 409 and body["applied"] == 1 and "older" in body["error"]
    assert body["error"].startswith("events[1]") and body["results"][0]["status"] == "new_session"
    assert client.get("/users/b1/state").json()["n_events"] == 1


def test_delete_resets_a_user_stuck_on_409(client):
    assert post(client, {"user": "stuck", "item": "i1", "timestamp": 2_000_000}).status_code == 200
    assert post(client, {"user": "stuck", "item": "i2", "timestamp": 1_000}).status_code == 409
    response = client.delete("/users/stuck/state")
    assert response.status_code == 200 and response.json() == {"user": "stuck", "deleted": True}
    assert client.get("/users/stuck/state").status_code == 404
    body = post(client, {"user": "stuck", "item": "i2", "timestamp": 1_000}).json()
    assert body["results"][0]["status"] == "new_session"
    assert client.delete("/users/nobody/state").json() == {"user": "nobody", "deleted": False}


def test_unknown_users_get_the_zero_state_ranking(client):
    response = client.get("/users/brand-new/recommendations?k=3")
    assert response.status_code == 200 and len(response.json()["items"]) == 3


def test_metrics_count_requests_and_events(client):
    client.get("/healthz")
    response = client.get("/metrics")
    text = response.text
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert 'hiertcn_requests_total{route="healthz",status="200"}' in text
    assert 'hiertcn_events_total{kind="accepted"}' in text
    statuses = [line.split('status="')[1][:3] for line in text.splitlines() if 'status="' in line]
    assert statuses and not [s for s in statuses if s.startswith("5")]


def test_openapi_documents_every_route_and_body(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths) == {"/events", "/users/{user}/recommendations", "/users/{user}/state", "/healthz", "/metrics",
                          "/admin/reload"}
    assert {"403", "409", "422", "500"} <= set(paths["/admin/reload"]["post"]["responses"])
    assert set(paths["/users/{user}/state"]) == {"get", "delete"}
    events = paths["/events"]["post"]
    assert {"200", "409", "413", "422"} <= set(events["responses"])
    schema = events["requestBody"]["content"]["application/json"]["schema"]
    assert "Event" in str(schema) and "Event" in document["components"]["schemas"]
    assert document["components"]["schemas"]["Event"]["additionalProperties"] is False
    assert client.get("/docs").status_code == 200


def test_a_warmed_servers_first_batched_requests_trace_nothing(recommender):
    """`serve --warm` (`OnlineRecommender.warm`): every batch shape is compiled before traffic.

    Control first: on a fresh step a batched request traces a new function; after `warm()`,
    requests of 10 and 30 users (one and two calls of the 16-row bucket) and a recommendation
    trace none. (Two row buckets, not the default four, keep the compiles few.)
    """
    from hiertcn_keras.serving.user_step import UserStep
    from hiertcn_keras.serving.user_store_url import open_user_store

    step = UserStep(recommender.model, batch_sizes=(1, 16))
    rec = OnlineRecommender(recommender.run, recommender.catalog,
                            open_user_store("memory:", recommender.run.fingerprint), step=(recommender.model, step))
    items = rec.catalog.item_ids[1:]

    def events(users, t):
        return {"events": [{"user": f"{users}-{u}", "item": items[u % len(items)], "timestamp": t} for u in range(users)]}

    with TestClient(create_app(rec, max_events=100)) as client:
        before = step.traces
        assert post(client, events(3, 10)).status_code == 200
        assert step.traces == before + 1  # the 16-row bucket was traced on first use
        warmed = rec.warm()
        assert warmed["functions"] == step.traces == len(step.buckets) * 2  # each shape traced once
        assert warmed["compiled_now"] == len(step.buckets) * 2 - before - 1
        traced = step.traces
        for users in (10, 30):
            assert post(client, events(users, 20)).status_code == 200
        assert client.get("/users/10-1/recommendations?k=3").status_code == 200
        assert step.traces == traced  # nothing compiled on the request path
