"""The HTTP API of an `OnlineRecommender`: a FastAPI app, served by uvicorn.

    POST   /events                           one event, {"events": [...]} or a bare [...] (http_schema)
    GET    /users/{user}/recommendations?k=10&exclude_seen=true&at=SECONDS
    GET    /users/{user}/state               the stored state's counters and open session
    DELETE /users/{user}/state               forget the user (the next event starts from zero)
    GET    /healthz                          model, catalogue, retrieval (with its recall@10), item store, priors
    GET    /metrics                          Prometheus text: requests, events, latencies
    POST   /admin/reload                     swap in the store a directory's LATEST names (localhost only)
    GET    /docs, /openapi.json              the HTTP reference (every body and status)

Status codes: 200; 404 (no such route, or no stored state); 405 (any other method, with an
`Allow` header); 408 (the body did not arrive within `body_timeout` seconds); 409 (an
out-of-order event under `reject`); 413 (body over `max_body_bytes`, or more than
`max_events` events); 422 (any invalid body, path or query value, and an unknown item id under
`reject`). Every error body is `{"error": message}` (422s add pydantic's `detail`). A batch is
applied in order and stops at the first rejected event; the error says how many events were
`applied` before it, and their results. A 5xx means a bug or a failing store, never bad input.

The app holds the recommender behind one reference (`RecommenderRef`); each request reads it
once (`ref.use()`), so a later swap (a new item store, `store_follower`) leaves requests in
flight on the old one, which is released after the last of them. The model and
the store run in the thread pool (`run_in_threadpool`): the event loop only parses and routes.

Access log: one JSON line per request on the `hiertcn.access` logger (method, path, status,
ms, client); a client that disconnects mid-request is logged as such, without a traceback.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from hiertcn_keras.limits import MAX_ID_LENGTH, MAX_TIMESTAMP, MIN_TIMESTAMP
from hiertcn_keras.serving import http_schema as schema
from hiertcn_keras.serving.event_checks import check_identifier
from hiertcn_keras.serving.http_protocol import head_timeout_protocol
from hiertcn_keras.serving.item_catalog import UnknownItemError
from hiertcn_keras.serving.sessionizer import OutOfOrderError

access_log = logging.getLogger("hiertcn.access")
error_log = logging.getLogger("hiertcn.server")


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


class RecommenderRef:
    """The one reference through which the app reaches its `OnlineRecommender`.

    A request takes the current recommender with `use()` (a context manager) and keeps that one
    until it ends, whatever swaps happen meanwhile. `swap(new, on_idle=f)` replaces it
    atomically and returns the old one; `f(old)` is called once no request holds the old one
    any more (at once when none does), from the thread that released it last.
    """

    def __init__(self, recommender):
        self._recommender = recommender
        self._lock = threading.Lock()
        self._in_flight = collections.Counter()  # id(recommender) -> requests holding it
        self._retiring = {}  # id(recommender) -> (recommender, on_idle)

    @property
    def current(self):
        return self._recommender

    def in_flight(self, recommender=None):
        """Requests holding `recommender` (default: the current one)."""
        with self._lock:
            return self._in_flight[id(self._recommender if recommender is None else recommender)]

    @contextlib.contextmanager
    def use(self):
        """The current recommender, held until the block ends."""
        with self._lock:
            recommender = self._recommender
            self._in_flight[id(recommender)] += 1
        try:
            yield recommender
        finally:
            self._release(recommender)

    def _release(self, recommender):
        key = id(recommender)
        with self._lock:
            self._in_flight[key] -= 1
            idle = self._in_flight[key] == 0
            if idle:
                del self._in_flight[key]
            retired = self._retiring.pop(key, None) if idle else None
        if retired is not None:
            retired[1](retired[0])

    def swap(self, recommender, *, on_idle=None):
        """Serve `recommender` from now on; returns the one it replaces.

        Args:
            recommender: the new `OnlineRecommender`.
            on_idle: callable `old → None` or `None`: called when the last request holding the
                old recommender ends (at once when none holds it).
        """
        with self._lock:
            old, self._recommender = self._recommender, recommender
            busy = self._in_flight[id(old)] > 0
            if not busy:
                self._in_flight.pop(id(old), None)
            if busy and on_idle is not None:
                self._retiring[id(old)] = (old, on_idle)
        if not busy and on_idle is not None and old is not recommender:
            on_idle(old)
        return old


class BodyError(Exception):
    """A body that could not be read: `status` (408, 413) and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


async def read_body(request, max_bytes, timeout):
    """The request body, at most `max_bytes`, all of it within `timeout` seconds.

    Raises:
        BodyError: 413 over the limit (announced or sent), 408 on timeout.
        ClientDisconnect: the client went away.
    """
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > max_bytes:
        raise BodyError(413, f"body of {int(announced)} bytes exceeds the limit of {max_bytes}")

    async def collect():
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise BodyError(413, f"body exceeds the limit of {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise BodyError(408, f"the request body did not arrive within {timeout:g} s") from None


def _error(status, message, headers=None, **extra):
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _describe(errors, limit=3):
    """A one-line message from pydantic errors: `where: what; ...`."""
    parts = []
    for error in errors[:limit]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("batch", "list", "event", "str", "int", "float")]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def _jsonable_errors(errors):
    """pydantic errors without the raw input and context objects (which may not serialize)."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in errors]


ROUTE_NAMES = {"events": "events", "recommendations": "recommendations", "user_state": "state",
               "delete_user_state": "state", "healthz": "healthz", "metrics": "metrics", "reload": "reload"}

LOCAL_CLIENTS = ("127.0.0.1", "::1", "localhost")


def _store_name(recommender):
    info = getattr(recommender, "items_info", None)
    return None if info is None else info.name


def create_app(recommender, *, max_body_bytes=1 << 20, max_events=1000, max_k=1000, body_timeout=10.0):
    """The FastAPI app serving `recommender`.

    Args:
        recommender: `OnlineRecommender`.
        max_body_bytes: int. Body size limit (413 above). Defaults to 1 MiB.
        max_events: int. Events per `POST /events` (413 above). Defaults to 1000.
        max_k: int. Largest `k` of a recommendations request. Defaults to 1000.
        body_timeout: float. Seconds a client has to send the whole body (408 after).
            Defaults to 10.

    Returns:
        `FastAPI`, with `app.state.recommender` (a `RecommenderRef`), `app.state.metrics` and
        `app.state.follower` (`None`; set it to a `store_follower.StoreFollower` to enable
        `POST /admin/reload`).
    """
    app = FastAPI(
        title="hiertcn serve",
        summary="Online HierTCN: events in, per-user top-K out.",
        description=(
            "Each user's high-level state lives in a user store; every event updates it and "
            "recomputes the user embedding; items are ranked by inner product with it. "
            f"Ids: strings of 1..{MAX_ID_LENGTH} characters or integers. Timestamps: Unix "
            f"seconds in {MIN_TIMESTAMP}..{MAX_TIMESTAMP}. Every error is `{{\"error\": message}}`; "
            "a 5xx is never caused by client input."
        ),
        version="1",
    )
    ref = RecommenderRef(recommender)
    metrics = ServerMetrics()
    app.state.recommender = ref
    app.state.metrics = metrics
    app.state.follower = None
    errors = {code: {"model": schema.ErrorResponse} for code in (404, 405, 422)}

    # -- errors: always {"error": message} ----------------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc):
        return _error(422, _describe(exc.errors()), detail=_jsonable_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        if exc.status_code == 404:
            message = f"no route {request.url.path!r}; see /docs"
        elif exc.status_code == 405:
            message = f"{request.method} not allowed on {request.url.path!r}; allowed: {exc.headers.get('Allow') if exc.headers else '?'}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _internal_error(request, exc):  # a bug or a failing store: say so, keep serving
        error_log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    # -- access log and metrics (pure ASGI: no body buffering) ----------------------------------

    class AccessLog:
        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            started = time.perf_counter()
            status = [None]

            async def send_and_note(message):
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            try:
                await self.inner(scope, receive, send_and_note)
            finally:
                seconds = time.perf_counter() - started
                route = scope.get("route")
                name = ROUTE_NAMES.get(getattr(route, "name", None), "other")
                code = status[0] if status[0] is not None else 499  # the client left before a response
                metrics.record(name, code, seconds)
                if access_log.isEnabledFor(logging.INFO):
                    client = scope.get("client")
                    access_log.info(json.dumps({
                        "method": scope.get("method"), "path": scope.get("path"), "status": code,
                        "ms": round(seconds * 1000, 3), "client": f"{client[0]}:{client[1]}" if client else None,
                    }, ensure_ascii=False))

    app.add_middleware(AccessLog)

    # -- routes --------------------------------------------------------------------------------

    @app.post("/events", name="events", response_model=schema.EventsResponse,
              openapi_extra={"requestBody": schema.events_body_schema()},
              responses={408: {"model": schema.ErrorResponse, "description": "the body arrived too slowly"},
                         409: {"model": schema.EventsErrorResponse, "description": "an out-of-order event (reject)"},
                         413: {"model": schema.ErrorResponse, "description": "body or event count over the limit"},
                         422: {"model": schema.EventsErrorResponse,
                               "description": "invalid body, or an unknown item id (reject)"}})
    async def events(request: Request):
        """Apply events in order: each updates its user's state (one store write per user).

        The body is one event, `{"events": [...]}` or a bare JSON array of events. A rejected
        event (unknown item, out of order) stops the batch: the events before it are applied,
        the response says how many.
        """
        try:
            body = await read_body(request, max_body_bytes, body_timeout)
        except BodyError as error:
            return _error(error.status, str(error), headers={"Connection": "close"})
        except ClientDisconnect:  # nobody to answer; logged as 499, without a traceback
            return _error(499, "the client disconnected")
        try:
            parsed = schema.parse_events(body)
        except ValidationError as error:
            return _error(422, _describe(error.errors()), detail=_jsonable_errors(error.errors()))
        if len(parsed) > max_events:
            return _error(413, f"at most {max_events} events per request, got {len(parsed)}")
        with ref.use() as rec:
            batch = await run_in_threadpool(rec.observe_batch, [(e.user, e.item, e.timestamp) for e in parsed])
        results = [{"user": o.user, "item": o.item, "status": o.status, "position": o.position}
                   for o in batch.observations]
        if batch.error is not None:
            index, exc = batch.error
            status = 409 if isinstance(exc, OutOfOrderError) else 422
            where = f"events[{index}]" if len(parsed) > 1 else "event"
            return _error(status, f"{where}: {exc}", applied=len(results), results=results)
        accepted = sum(1 for o in batch.observations if o.accepted)
        return {"applied": len(results), "accepted": accepted, "skipped": len(results) - accepted,
                "results": results}

    @app.get("/users/{user:path}/recommendations", name="recommendations",
             response_model=schema.RecommendationsResponse, responses=errors)
    async def recommendations(
        user: str,
        k: int = Query(10, ge=1, le=max_k, description="how many items"),
        exclude_seen: bool = Query(True, description="leave out the open session's items"),
        at: float | None = Query(None, ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP, allow_inf_nan=False,
                                 description="the current time (Unix seconds): an idle session is ranked as a new one; "
                                 "with the recency prior, the end of its click window (default: the newest event)"),
    ):
        """Top-k items for a user (an unknown user gets the zero state's ranking)."""
        user = _path_user(user)
        with ref.use() as rec:
            recs = await run_in_threadpool(rec.recommend, user, k, exclude_seen=exclude_seen, at=at)
        return {"user": user, "k": k, "items": [{"item": i, "score": float(s)} for i, s in zip(recs.items, recs.scores)],
                "item_store": _store_name(rec)}

    @app.get("/users/{user:path}/state", name="user_state", response_model=schema.UserStateResponse,
             responses=errors)
    async def user_state(user: str):
        """The user's stored state (404 for a user without one)."""
        user = _path_user(user)
        with ref.use() as rec:
            got = await run_in_threadpool(rec.store.get, user)
        if got is None:
            return _error(404, f"no stored state for user {user!r}")
        state, version = got
        return {"user": user, "version": version, "n_events": state.n_events, "n_sessions": state.n_sessions,
                "session": rec.catalog.ids_of(state.session), "last_timestamp": state.last_timestamp}

    @app.delete("/users/{user:path}/state", name="delete_user_state", response_model=schema.DeletedResponse,
                responses=errors)
    async def delete_user_state(user: str):
        """Forget a user: the next event starts a new session from the zero state.

        The way back for a user whose events were refused as out of order (409) after a clock
        change or a replay.
        """
        user = _path_user(user)
        with ref.use() as rec:
            deleted = await run_in_threadpool(rec.reset, user)
        return {"user": user, "deleted": deleted}

    @app.get("/healthz", name="healthz", response_model=schema.HealthResponse)
    async def healthz():
        """The model, catalogue, retrieval (with its recall@10) and user store being served."""
        with ref.use() as rec:
            run, catalog = rec.run, rec.catalog
            item_store = None
            if rec.items_info is not None:
                follower = app.state.follower
                item_store = {**rec.items_info.as_dict(),
                              "following": None if follower is None else follower.status()}
            return {"status": "ok", "run": str(run.run_dir), "model": run.recommender.model_config.model,
                    "fingerprint": run.fingerprint, "n_catalogue": catalog.n_catalogue, "item_vectors": catalog.source,
                    "retrieval": rec.retriever.report, "session_gap": run.rules.session_gap,
                    "max_session_len": run.rules.max_session_len, "store": repr(rec.store),
                    "item_store": item_store, "recency": rec.recency_report(),
                    "transitions": rec.transition_report()}

    @app.post("/admin/reload", name="reload", response_model=schema.ReloadResponse,
              responses={403: {"model": schema.ErrorResponse, "description": "not from this machine"},
                         409: {"model": schema.ErrorResponse, "description": "not following a store directory"},
                         422: {"model": schema.ErrorResponse, "description": "the new store is unusable; the old "
                               "one is still served"},
                         500: {"model": schema.ErrorResponse, "description": "the reload failed otherwise; the "
                               "old store is still served"}})
    async def reload(request: Request):
        """Swap in the item store the directory's `LATEST` names, now (localhost only).

        The new store's recommender is built off the request path, then swapped in atomically:
        requests in flight finish on the old store. On failure the old store keeps serving and
        the reply names the store file at fault.
        """
        client = request.client.host if request.client else None
        if client not in LOCAL_CLIENTS:
            return _error(403, f"/admin/reload is accepted only from this machine, not from {client}")
        follower = app.state.follower
        if follower is None:
            return _error(409, "this server serves a fixed item table; start it with --items on a directory of "
                          "dated stores (embed-items --until --stores) to reload")
        from hiertcn_keras.serving.store_follower import ReloadError

        try:
            return await run_in_threadpool(follower.reload)
        except ReloadError as error:
            served = _store_name(ref.current)
            return _error(error.status, f"reload failed, still serving {served}: {error}", store=error.store,
                          serving=served)

    @app.get("/metrics", name="metrics", response_class=PlainTextResponse)
    async def prometheus():
        """Prometheus text: requests per route and status, latency quantiles, event counters."""
        with ref.use() as rec:
            return PlainTextResponse(metrics.prometheus(rec), media_type="text/plain; version=0.0.4")

    _document_events_body(app)
    return app


def _path_user(user):
    """A user id from the path, validated like a body id (422 otherwise)."""
    try:
        return check_identifier(user)
    except ValueError as error:
        raise RequestValidationError([{"loc": ("path", "user"), "msg": str(error), "type": "value_error"}]) from None


def _document_events_body(app):
    """Put the schemas the `POST /events` body refers to into the OpenAPI components."""
    default = app.openapi

    def openapi():
        if app.openapi_schema is None:
            document = default()
            body = document["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            defs = body.pop("$defs", {})
            document.setdefault("components", {}).setdefault("schemas", {}).update(defs)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi


def uvicorn_config(app, host="127.0.0.1", port=8000, *, timeout_keep_alive=5, head_timeout=10.0,
                   limit_concurrency=256, max_header_bytes=16384, access_log_enabled=True, log_level="info"):
    """A `uvicorn.Config` for the app, with the server-side limits.

    Args:
        app: the FastAPI app.
        host, port: bind address (127.0.0.1 by default: there is no authentication).
        timeout_keep_alive: float. Seconds an idle keep-alive connection is kept. Defaults to 5.
        head_timeout: float. Seconds a client has to send a complete request head, from
            connecting or from the previous response (`http_protocol`; uvicorn has no such
            limit). Defaults to 10.
        limit_concurrency: int. Connections and requests at once; above it new ones get 503.
            Defaults to 256.
        max_header_bytes: int. Largest incomplete request head h11 buffers (431/400 above).
            Defaults to 16 KiB.
        access_log_enabled: bool. JSON access lines on `hiertcn.access`.
        log_level: str. uvicorn's log level.

    Returns:
        `uvicorn.Config`.
    """
    import uvicorn

    logging_config = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(message)s"},
                       "server": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
                     "server": {"class": "logging.StreamHandler", "formatter": "server", "stream": "ext://sys.stderr"}},
        "loggers": {
            "hiertcn.access": {"handlers": ["access"], "level": "INFO" if access_log_enabled else "WARNING",
                               "propagate": False},
            "hiertcn.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["server"], "level": log_level.upper(), "propagate": False},
            "uvicorn.error": {"level": log_level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
    return uvicorn.Config(app, host=host, port=int(port), http=head_timeout_protocol(head_timeout), loop="asyncio",
                          lifespan="off",
                          timeout_keep_alive=timeout_keep_alive, limit_concurrency=limit_concurrency,
                          h11_max_incomplete_event_size=max_header_bytes, access_log=False,
                          log_config=logging_config, log_level=log_level, server_header=False)


class RecommenderServer:
    """uvicorn serving `create_app(recommender)` in a background thread (tests, embedding).

    Args:
        recommender: `OnlineRecommender`.
        host: str. Defaults to `"127.0.0.1"`.
        port: int. 0 picks a free port (see `url`). Defaults to 8000.
        **limits: `create_app` and `uvicorn_config` keyword arguments.

    Example:

    >>> with RecommenderServer(recommender, port=0) as server:          # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:40123
    """

    def __init__(self, recommender, host="127.0.0.1", port=8000, **limits):
        import uvicorn

        app_keys = ("max_body_bytes", "max_events", "max_k", "body_timeout")
        self.recommender = recommender
        self.app = create_app(recommender, **{k: v for k, v in limits.items() if k in app_keys})
        config = uvicorn_config(self.app, host, port, **{k: v for k, v in limits.items() if k not in app_keys})
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # not the main thread
        self.thread = None

    def start(self, timeout=60):
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="hiertcn-uvicorn")
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        return self

    @property
    def server_address(self):
        sock = self.server.servers[0].sockets[0]
        return sock.getsockname()[:2]

    @property
    def url(self):
        host, port = self.server_address
        return f"http://{host}:{port}"

    def stop(self):
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
