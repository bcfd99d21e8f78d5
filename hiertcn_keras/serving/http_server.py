"""The HTTP API of an `OnlineRecommender` (standard library `ThreadingHTTPServer`, JSON).

    POST /events                             one event or {"events": [...]} (see http_schema)
    GET  /users/{id}/recommendations?k=10&exclude_seen=true&at=SECONDS
    GET  /users/{id}/state                   the stored state's counters and open session
    GET  /healthz                            model, catalogue, retrieval (with its recall@10)
    GET  /metrics                            Prometheus text: requests, events, latencies

Bad input is always a 4xx with `{"error": message}`: 400 (JSON or schema), 404 (route), 405
(method), 409 (an out-of-order event under `reject`), 411 (no Content-Length), 413 (body over
`max_body_bytes` or too many events), 422 (an unknown item id under `reject`). A batch is
applied in order and stops at the first rejected event; the error response says how many
events were `applied` before it. A 5xx means a bug or a failing store, never bad input.
The server binds to 127.0.0.1 unless told otherwise; it has no authentication, so expose it
only behind something that has.

Why the standard library: the API is five routes of small JSON; every request is dominated by
the model (~1 ms) and the store, not by HTTP parsing, and no dependency is added.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from hiertcn_keras.serving import http_schema as schema
from hiertcn_keras.serving.item_catalog import UnknownItemError
from hiertcn_keras.serving.sessionizer import OutOfOrderError


class ServerMetrics:
    """Request counters and a sliding window of latencies per route."""

    def __init__(self, window=10000):
        self.lock = threading.Lock()
        self.requests = collections.Counter()
        self.latency = collections.defaultdict(lambda: collections.deque(maxlen=window))
        self.started = time.time()

    def record(self, route, status, seconds):
        with self.lock:
            self.requests[(route, status)] += 1
            self.latency[route].append(seconds)

    def prometheus(self, recommender):
        lines = ["# TYPE hiertcn_requests_total counter"]
        with self.lock:
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f'hiertcn_requests_total{{route="{route}",status="{status}"}} {n}')
            lines.append("# TYPE hiertcn_request_seconds summary")
            for route, values in sorted(self.latency.items()):
                arr = np.asarray(values)
                for q in (0.5, 0.9, 0.99):
                    lines.append(f'hiertcn_request_seconds{{route="{route}",quantile="{q}"}} {np.quantile(arr, q):.6f}')
                lines.append(f'hiertcn_request_seconds_count{{route="{route}"}} {len(arr)}')
        lines.append("# TYPE hiertcn_events_total counter")
        for key, n in sorted(recommender.counts().items()):
            lines.append(f'hiertcn_events_total{{kind="{key}"}} {n}')
        lines.append(f"hiertcn_uptime_seconds {time.time() - self.started:.1f}")
        return "\n".join(lines) + "\n"


def make_handler(recommender, metrics, *, max_body_bytes=1 << 20, max_events=1000, max_k=1000):
    """The request handler class bound to a recommender."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hiertcn"

        def log_message(self, format, *args):  # noqa: A002  (the base class's name)
            pass  # /metrics counts requests; per-request logging would cost more than serving

        # -- plumbing ------------------------------------------------------------------------

        def _send(self, status, payload, content_type="application/json"):
            body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return status

        def _dispatch(self, method):
            started = time.perf_counter()
            parts = urlsplit(self.path)
            route = "other"
            try:
                segments = [unquote(s) for s in parts.path.split("/") if s]
                route, handler = self._route(method, segments)
                status = handler(segments, parse_qs(parts.query))
            except schema.BadRequest as error:
                status = self._send(error.status, {"error": str(error)})
            except Exception as error:  # a bug or a failing store: say so, keep serving
                traceback.print_exc()
                status = self._send(500, {"error": f"internal error: {type(error).__name__}: {error}"})
            metrics.record(route, status, time.perf_counter() - started)

        def _route(self, method, segments):
            routes = {
                ("healthz",): ("healthz", {"GET": self._healthz}),
                ("metrics",): ("metrics", {"GET": self._metrics}),
                ("events",): ("events", {"POST": self._events}),
            }
            if len(segments) == 3 and segments[0] == "users" and segments[2] in ("recommendations", "state"):
                name = segments[2]
                entry = (name, {"GET": self._recommendations if name == "recommendations" else self._state})
            else:
                entry = routes.get(tuple(segments))
            if entry is None:
                raise schema.BadRequest(f"no route {self.path!r}; see GET /healthz", status=404)
            route, methods = entry
            if method not in methods:
                raise schema.BadRequest(f"{method} not allowed on {route}; use {sorted(methods)}", status=405)
            return route, methods[method]

        def _read_body(self):
            length = self.headers.get("Content-Length")
            if length is None:
                raise schema.BadRequest("Content-Length is required", status=411)
            try:
                length = int(length)
            except ValueError:
                raise schema.BadRequest(f"bad Content-Length {length!r}") from None
            if length < 0:
                raise schema.BadRequest(f"bad Content-Length {length}")
            if length > max_body_bytes:
                self.close_connection = True  # the unread body must not be parsed as a request
                raise schema.BadRequest(f"body of {length} bytes exceeds the limit of {max_body_bytes}", status=413)
            return self.rfile.read(length)

        # -- routes --------------------------------------------------------------------------

        def _healthz(self, segments, params):
            run, catalog = recommender.run, recommender.catalog
            return self._send(200, {
                "status": "ok",
                "run": str(run.run_dir),
                "model": run.recommender.model_config.model,
                "fingerprint": run.fingerprint,
                "n_catalogue": catalog.n_catalogue,
                "item_vectors": catalog.source,
                "retrieval": recommender.retriever.report,
                "session_gap": run.rules.session_gap,
                "max_session_len": run.rules.max_session_len,
                "store": repr(recommender.store),
            })

        def _metrics(self, segments, params):
            return self._send(200, metrics.prometheus(recommender), "text/plain; version=0.0.4")

        def _events(self, segments, params):
            events = schema.parse_events(self._read_body(), max_events=max_events)
            results = []
            for i, event in enumerate(events):
                try:
                    obs = recommender.observe(*event)
                except UnknownItemError as error:
                    return self._send(422, {"error": f"events[{i}]: {error}", "applied": i, "results": results})
                except OutOfOrderError as error:
                    return self._send(409, {"error": f"events[{i}]: {error}", "applied": i, "results": results})
                results.append({"user": obs.user, "item": obs.item, "status": obs.status,
                                "position": obs.position})
            accepted = sum(1 for r in results if r["status"] not in ("duplicate", "out_of_order", "unknown_item"))
            return self._send(200, {"applied": len(results), "accepted": accepted,
                                    "skipped": len(results) - accepted, "results": results})

        def _recommendations(self, segments, params):
            user = schema.parse_identifier(segments[1], "user")
            k = schema.parse_int(params, "k", 10, 1, max_k)
            exclude_seen = schema.parse_bool(params, "exclude_seen", True)
            at = schema.parse_float(params, "at")
            recs = recommender.recommend(user, k, exclude_seen=exclude_seen, at=at)
            return self._send(200, {"user": user, "k": k, "items": [
                {"item": item, "score": float(score)} for item, score in zip(recs.items, recs.scores)]})

        def _state(self, segments, params):
            user = schema.parse_identifier(segments[1], "user")
            got = recommender.store.get(user)
            if got is None:
                return self._send(404, {"error": f"no stored state for user {user!r}"})
            state, version = got
            return self._send(200, {
                "user": user, "version": version, "n_events": state.n_events, "n_sessions": state.n_sessions,
                "session": recommender.catalog.ids_of(state.session), "last_timestamp": state.last_timestamp,
            })

        def do_GET(self):  # noqa: N802  (http.server's naming)
            self._dispatch("GET")

        def do_POST(self):  # noqa: N802
            self._dispatch("POST")

        def do_PUT(self):  # noqa: N802
            self._dispatch("PUT")

        def do_DELETE(self):  # noqa: N802
            self._dispatch("DELETE")

    return Handler


class RecommenderServer(ThreadingHTTPServer):
    """A threading HTTP server for an `OnlineRecommender`.

    Args:
        recommender: `OnlineRecommender`.
        host: str. Defaults to `"127.0.0.1"` (local only).
        port: int. 0 picks a free port (see `server_address`). Defaults to 8000.
        max_body_bytes, max_events, max_k: ints. Request limits (1 MiB, 1000, 1000).

    Example:

    >>> server = RecommenderServer(recommender, port=0)                # doctest: +SKIP
    >>> threading.Thread(target=server.serve_forever, daemon=True).start()
    >>> server.url
    'http://127.0.0.1:40123'
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, recommender, host="127.0.0.1", port=8000, *, max_body_bytes=1 << 20, max_events=1000,
                 max_k=1000):
        self.recommender = recommender
        self.metrics = ServerMetrics()
        handler = make_handler(recommender, self.metrics, max_body_bytes=max_body_bytes, max_events=max_events,
                               max_k=max_k)
        super().__init__((host, int(port)), handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"
