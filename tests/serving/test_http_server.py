"""The HTTP API over real HTTP on 127.0.0.1 (an ephemeral port): routes, validation, limits.

Every malformed request must get a 4xx with a JSON message, never a 5xx.
"""

import http.client
import json
import threading
import urllib.parse

import numpy as np
import pytest

from hiertcn_keras.serving.http_server import RecommenderServer
from hiertcn_keras.serving.online_recommender import OnlineRecommender


@pytest.fixture(scope="module")
def server(learned_run, tmp_path_factory):
    store = f"sqlite:{tmp_path_factory.mktemp('http') / 'users.sqlite'}"
    recommender = OnlineRecommender.open(learned_run, store=store)
    srv = RecommenderServer(recommender, port=0, max_body_bytes=4096, max_events=5, max_k=50)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    recommender.close()


def request(srv, method, path, body=None, headers=None):
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    kind = response.getheader("Content-Type", "")
    return response.status, json.loads(raw) if kind.startswith("application/json") else raw.decode()


def test_binds_to_localhost(server):
    assert server.server_address[0] == "127.0.0.1"


def test_healthz_reports_the_model_and_retrieval(server):
    status, body = request(server, "GET", "/healthz")
    assert status == 200 and body["status"] == "ok" and body["model"] == "hiertcn"
    assert body["retrieval"]["kind"] == "exact" and body["n_catalogue"] == server.recommender.catalog.n_catalogue


def test_events_then_recommendations(server):
    status, body = request(server, "POST", "/events", {"user": "h1", "item": "i1", "timestamp": 10})
    assert status == 200 and body["accepted"] == 1 and body["results"][0]["status"] == "new_session"
    batch = {"events": [{"user": "h1", "item": "i2", "timestamp": 20}, {"user": 7, "item": "i3", "timestamp": 30.5}]}
    status, body = request(server, "POST", "/events", batch)
    assert status == 200 and [r["status"] for r in body["results"]] == ["kept", "new_session"]
    status, body = request(server, "GET", "/users/h1/recommendations?k=4")
    assert status == 200 and len(body["items"]) == 4
    direct = server.recommender.recommend("h1", 4)
    assert [x["item"] for x in body["items"]] == direct.items
    np.testing.assert_allclose([x["score"] for x in body["items"]], direct.scores, rtol=1e-6)
    status, body = request(server, "GET", "/users/h1/state")
    assert status == 200 and body["n_events"] == 2 and body["session"] == ["i1", "i2"]


def test_user_ids_are_url_decoded(server):
    user = "a b/ç"
    request(server, "POST", "/events", {"user": user, "item": "i4", "timestamp": 1})
    status, body = request(server, "GET", f"/users/{urllib.parse.quote(user, safe='')}/state")
    assert status == 200 and body["user"] == user


BAD_REQUESTS = [
    ("POST", "/events", b"{not json", 400),
    ("POST", "/events", b"\xff\xfe", 400),
    ("POST", "/events", {"user": "x", "item": "i1"}, 400),  # no timestamp
    ("POST", "/events", {"user": "x", "item": "i1", "timestamp": 1, "extra": 2}, 400),
    ("POST", "/events", {"user": True, "item": "i1", "timestamp": 1}, 400),
    ("POST", "/events", {"user": "", "item": "i1", "timestamp": 1}, 400),
    ("POST", "/events", {"user": "x", "item": ["i1"], "timestamp": 1}, 400),
    ("POST", "/events", b'{"user": "x", "item": "i1", "timestamp": NaN}', 400),
    ("POST", "/events", {"user": "x", "item": "i1", "timestamp": "soon"}, 400),
    ("POST", "/events", {"events": []}, 400),
    ("POST", "/events", {"events": "no"}, 400),
    ("POST", "/events", {"events": [1]}, 400),
    ("POST", "/events", [1, 2], 400),
    ("POST", "/events", {"events": [{"user": "x", "item": "i1", "timestamp": 1}] * 6}, 413),
    ("POST", "/events", b"x" * 5000, 413),
    ("POST", "/events", {"user": "x", "item": "nope", "timestamp": 1}, 422),
    ("GET", "/users/x/recommendations?k=0", None, 400),
    ("GET", "/users/x/recommendations?k=51", None, 400),
    ("GET", "/users/x/recommendations?k=ten", None, 400),
    ("GET", "/users/x/recommendations?exclude_seen=maybe", None, 400),
    ("GET", "/users/x/recommendations?at=inf", None, 400),
    ("GET", "/users/never-seen/state", None, 404),
    ("GET", "/nowhere", None, 404),
    ("GET", "/events", None, 405),
    ("DELETE", "/healthz", None, 405),
]


@pytest.mark.parametrize("method,path,body,expected", BAD_REQUESTS)
def test_bad_input_gets_a_4xx_with_a_message(server, method, path, body, expected):
    status, payload = request(server, method, path, body)
    assert status == expected and isinstance(payload["error"], str) and payload["error"]


def test_missing_content_length_is_411(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.putrequest("POST", "/events")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411
    conn.close()


def test_a_rejected_batch_event_stops_the_batch_and_says_what_was_applied(server):
    events = [{"user": "b1", "item": "i1", "timestamp": 100}, {"user": "b1", "item": "i2", "timestamp": 50},
              {"user": "b1", "item": "i3", "timestamp": 200}]
    status, body = request(server, "POST", "/events", {"events": events})
    assert status == 409 and body["applied"] == 1 and "older" in body["error"]
    assert request(server, "GET", "/users/b1/state")[1]["n_events"] == 1


def test_unknown_users_get_the_zero_state_ranking(server):
    status, body = request(server, "GET", "/users/brand-new/recommendations?k=3")
    assert status == 200 and len(body["items"]) == 3


def test_metrics_count_requests_and_events(server):
    request(server, "GET", "/healthz")
    status, text = request(server, "GET", "/metrics")
    assert status == 200
    assert 'hiertcn_requests_total{route="healthz",status="200"}' in text
    assert 'hiertcn_events_total{kind="accepted"}' in text
    assert "500" not in [line.split('status="')[1][:3] for line in text.splitlines() if 'status="' in line]
