"""Hypothesis fuzz of the HTTP API (in process): whatever a client sends, the answer is never a 5xx.

Requests mix every method with every route (and unknown ones), user ids of any Unicode
(percent-encoded, so bytes that are not UTF-8 too), query values of any kind, and bodies that
are event-shaped with hostile field values (lone surrogates, huge integers, infinities, long
strings, wrong types), arbitrary JSON, deep nesting, or raw bytes. Every 4xx must carry a JSON
`{"error": message}` (except HEAD, which has no body).
"""

import json
import urllib.parse

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hiertcn_keras.serving.http_server import create_app
from hiertcn_keras.serving.online_recommender import OnlineRecommender

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
ROUTES = ["/events", "/users/{user}/recommendations", "/users/{user}/state", "/healthz", "/metrics",
          "/users/{user}", "/", "/events/{user}"]


@pytest.fixture(scope="module")
def client(learned_run, tmp_path_factory):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path_factory.mktemp('fuzz') / 'users.sqlite'}",
                                 unknown_items="reject")
    with TestClient(create_app(rec, max_body_bytes=64 << 10, max_events=20, max_k=50),
                    raise_server_exceptions=False) as test_client:
        yield test_client
    rec.close()


any_text = st.text(alphabet=st.characters(), max_size=40)  # includes lone surrogates
huge = st.integers(min_value=-(10**400), max_value=10**400)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge, st.floats(allow_nan=True, allow_infinity=True),
                    any_text, st.sampled_from(["i1", "i2", "i3", "late", "", "x" * 5000]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(any_text, inner, max_size=4)),
                           max_leaves=12)
timestamps = st.one_of(st.floats(min_value=0, max_value=4.2e9), st.integers(min_value=-10, max_value=10**13),
                       huge, st.floats(), any_text, st.none())
ids = st.one_of(st.sampled_from(["u1", "u2", "i1", "i2", "i3", "nope"]), any_text, st.integers(), huge,
                st.booleans(), st.lists(st.integers(), max_size=2))
events = st.fixed_dictionaries({"user": ids, "item": ids, "timestamp": timestamps},
                               optional={"extra": scalars})


def encode(value):
    """JSON text that may hold lone surrogates (escaped) and NaN/Infinity (as Python writes them)."""
    return json.dumps(value, ensure_ascii=True).encode()


bodies = st.one_of(
    events.map(encode),
    st.lists(events, max_size=25).map(lambda e: encode({"events": e})),
    st.lists(events, max_size=25).map(encode),
    json_values.map(encode),
    st.integers(min_value=1, max_value=50_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=50_000).map(lambda n: b'{"events":' * n),
    st.binary(max_size=200),
    st.just(b"x" * (70 << 10)),
    st.none(),
)
queries = st.dictionaries(st.sampled_from(["k", "exclude_seen", "at", "other"]),
                          st.one_of(st.integers(), huge, st.floats().map(repr), any_text,
                                    st.sampled_from(["true", "no", "inf", "nan", "-1", "1e400"])), max_size=3)


def quote(text):
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(method=st.sampled_from(METHODS), route=st.sampled_from(ROUTES), user=any_text, query=queries, body=bodies)
def test_no_input_gets_a_5xx(client, method, route, user, query, body):
    path = route.format(user=quote(user) or "u1")
    if query:
        path += "?" + urllib.parse.urlencode({k: str(v) for k, v in query.items()})
    response = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (method, path, body[:200] if body else body, response.text[:500])
    if response.status_code >= 400 and method != "HEAD":
        assert isinstance(response.json()["error"], str)
