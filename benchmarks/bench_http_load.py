"""Bounded HTTP load test of `hiertcn serve` (FastAPI on uvicorn) on 127.0.0.1, with a final consistency check.

Starts `hiertcn serve` as its own process (a synthetic servable run of `--items` items, see
`_serving_common.synthetic_run`, or `--run`/`--items-store` of a real run, whose item ids the
events are then drawn from), with a fresh SQLite user store, then runs `--clients` concurrent
clients (threads of this process, one keep-alive connection each) for `--seconds`. Each client
owns its own users, so every user's events arrive in time order; a client sends `POST /events`
(`--events-per-request` events, default 1) and after every `--recommend-every`-th request
`GET /users/{id}/recommendations?k=10`; with `--bad-every N` every N-th request is an invalid
one (a rotating set: lone surrogate, 400-digit integer, deep nesting, millisecond timestamp,
unknown method), which must get a 4xx and is counted apart.
Reported: requests served, errors (any non-2xx or transport failure; must be 0 since every
request is valid), latency percentiles per route and requests/s. Finally every user's stored
state is read back (`GET /users/{id}/state`) and its event count compared with the events the
server accepted for that user: `mismatched_users` must be 0.

With `--swap-every S` the server follows a directory of two dated item stores (the synthetic
vectors and a perturbed copy): every S seconds a swapper thread points `LATEST` at the other
store and calls `POST /admin/reload`, which builds the new store's recommender off the request
path and swaps it in atomically. Reported besides: the reloads (all must succeed), the server's
build time per reload, and the latency of the requests that overlapped a reload against those
that did not (a ratio within the same run).

Usage:

    python benchmarks/bench_http_load.py                     # 100k items, 8 clients, 30 s
    python benchmarks/bench_http_load.py --items 5000 --clients 4 --seconds 10
    python benchmarks/bench_http_load.py --items 5000 --events-per-request 10 --bad-every 20
    python benchmarks/bench_http_load.py --items 20000 --clients 4 --seconds 60 --swap-every 5
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402
from _serving_common import percentiles_ms, synthetic_run  # noqa: E402


def start_server(run_dir, items_dir, store, extra=()):
    """`hiertcn serve` on a free port (`serve_process.start_serve`): the `ServeProcess`."""
    from hiertcn_keras.serving.serve_process import start_serve

    args = ["--run", str(run_dir), "--store", store, *extra]
    if items_dir is not None:
        args += ["--items", str(items_dir)]
    return start_serve(args, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, wait_s=600)


BAD_REQUESTS = [
    ("POST", "/events", b'{"user": "\\ud800", "item": "x", "timestamp": 1}'),
    ("POST", "/events", b'{"user": 1' + b"0" * 400 + b', "item": "x", "timestamp": 1}'),
    ("POST", "/events", b"[" * 100_000 + b"]" * 100_000),
    ("POST", "/events", b'{"user": "u", "item": "x", "timestamp": 1700000000000}'),
    ("PATCH", "/events", None),
    ("GET", "/users/u/recommendations?k=0", None),
]


class Client(threading.Thread):
    """One keep-alive connection sending one user-partition's events until `stop_at`."""

    def __init__(self, host, port, users, item_ids, stop_at, recommend_every, seed, events_per_request=1,
                 bad_every=0):
        super().__init__(daemon=True)
        self.host, self.port, self.users, self.item_ids = host, port, users, item_ids
        self.stop_at, self.recommend_every = stop_at, recommend_every
        self.events_per_request, self.bad_every = events_per_request, bad_every
        self.bad = collections.Counter()
        self.rng = np.random.default_rng(seed)
        self.latency = collections.defaultdict(list)
        self.starts = collections.defaultdict(list)  # perf_counter at each request's start, per route
        self.errors = collections.Counter()
        self.accepted = collections.Counter()
        self.clock = {u: 1.7e9 + float(self.rng.uniform(0, 3600)) for u in users}

    def call(self, conn, method, path, body=None):
        started = time.perf_counter()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        self.last_start = started
        return response.status, payload, time.perf_counter() - started

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        n = 0
        while time.monotonic() < self.stop_at:
            try:
                if self.bad_every and n % self.bad_every == self.bad_every - 1:
                    method, path, body = BAD_REQUESTS[(n // self.bad_every) % len(BAD_REQUESTS)]
                    status, _, seconds = self.call(conn, method, path, body)
                    self.latency["invalid"].append(seconds)
                    self.bad[status] += 1
                    if not 400 <= status < 500:
                        self.errors[f"invalid {method} {status}"] += 1
                    if status in (408, 413):  # the server closes after these
                        conn.close()
                        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                    n += 1
                    continue
                events = []
                for _ in range(self.events_per_request):
                    user = self.users[int(self.rng.integers(len(self.users)))]
                    self.clock[user] += float(self.rng.uniform(3600, 7200) if self.rng.random() < 0.15 else
                                              self.rng.uniform(5, 120))
                    item = self.item_ids[int(self.rng.integers(len(self.item_ids)))]
                    events.append({"user": user, "item": item, "timestamp": self.clock[user]})
                body = json.dumps(events[0] if len(events) == 1 else {"events": events})
                status, payload, seconds = self.call(conn, "POST", "/events", body)
                self.latency["events"].append(seconds)
                self.starts["events"].append(self.last_start)
                if status == 200:
                    for result in json.loads(payload)["results"]:
                        if result["status"] in ("new_session", "kept", "repeat", "truncated"):
                            self.accepted[result["user"]] += 1
                else:
                    self.errors[f"events {status}"] += 1
                n += 1
                if n % self.recommend_every == 0:
                    status, _, seconds = self.call(conn, "GET", f"/users/{user}/recommendations?k=10")
                    self.latency["recommendations"].append(seconds)
                    self.starts["recommendations"].append(self.last_start)
                    if status != 200:
                        self.errors[f"recommendations {status}"] += 1
            except (OSError, http.client.HTTPException) as error:
                self.errors[type(error).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.close()


def dated_stores(directory, items_dir):
    """Two dated stores of the synthetic vectors (as is, and perturbed) under `directory`; LATEST = the first."""
    from hiertcn_keras.artifacts.embedding_store import EmbeddingStore, write_store
    from hiertcn_keras.artifacts.store_directory import StoreDirectory

    with EmbeddingStore.open(items_dir) as store:
        matrix, ids = store.as_array(), list(store.ids)
    stores = StoreDirectory(directory)
    rng = np.random.default_rng(1)
    paths = [write_store(stores.path_for(1.7e9 + 3600 * k), m, ids, config={"until": 1.7e9 + 3600 * k})
             for k, m in enumerate((matrix, matrix + 0.1 * rng.normal(size=matrix.shape).astype(np.float32)))]
    stores.set_latest(paths[0])
    return stores, paths


class Swapper(threading.Thread):
    """Every `every` seconds: point LATEST at the other store and `POST /admin/reload`."""

    def __init__(self, host, port, stores, paths, every, stop_at):
        super().__init__(daemon=True)
        self.host, self.port, self.stores, self.paths, self.every, self.stop_at = host, port, stores, paths, every, stop_at
        self.windows, self.build_seconds, self.failures = [], [], []

    def run(self):
        k = 0
        while time.monotonic() + self.every < self.stop_at:
            time.sleep(self.every)
            k += 1
            self.stores.set_latest(self.paths[k % 2])
            conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
            started = time.perf_counter()
            conn.request("POST", "/admin/reload")
            response = conn.getresponse()
            payload = json.loads(response.read())
            self.windows.append((started, time.perf_counter()))
            conn.close()
            if response.status != 200 or payload.get("store") != self.paths[k % 2].name:
                self.failures.append((response.status, payload))
            else:
                self.build_seconds.append(payload.get("seconds"))


def _during(starts, seconds, windows):
    """bool per request: did it overlap a reload window?"""
    out = np.zeros(len(starts), dtype=bool)
    ends = np.asarray(starts) + np.asarray(seconds)
    for a, b in windows:
        out |= (np.asarray(starts) < b) & (ends > a)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="synthetic catalogue size")
    parser.add_argument("--run", default=None, help="serve this run instead of a synthetic one")
    parser.add_argument("--items-store", default=None, help="the item store of --run")
    parser.add_argument("--retrieval", choices=("exact", "ivf", "hnsw"), default="exact")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--users-per-client", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--recommend-every", type=int, default=4)
    parser.add_argument("--events-per-request", type=int, default=1, help="events per POST /events (default 1)")
    parser.add_argument("--bad-every", type=int, default=0, help="every N-th request is invalid (default 0: none)")
    parser.add_argument("--no-access-log", action="store_true", help="run the server without its access log")
    parser.add_argument("--swap-every", type=float, default=0.0, metavar="S",
                        help="follow a directory of two dated stores and swap them every S seconds (synthetic run)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.swap_every and args.run:
        parser.error("--swap-every works on the synthetic run")

    with temp_dir(prefix="hiertcn-bench-http-") as tmp:
        if args.run:
            run_dir, items_dir = Path(args.run), args.items_store
            from hiertcn_keras.serving.serving_run import ServingRun

            run = ServingRun.open(run_dir)
            item_ids = list(run.item_ids[1 : run.n_catalogue + 1])
        else:
            run_dir, items_dir = synthetic_run(tmp / "synthetic", args.items)
            item_ids = [f"item{k}" for k in range(args.items)]
        extra = ["--retrieval", args.retrieval] + (["--no-access-log"] if args.no_access_log else [])
        if args.swap_every:
            stores, store_paths = dated_stores(tmp / "stores", items_dir)
            items_dir = stores.root
            extra += ["--follow-seconds", "0"]
        server = start_server(run_dir, items_dir, f"sqlite:{tmp / 'users.sqlite'}", extra)
        host, port = server.host, server.port
        swapper = None
        try:
            stop_at = time.monotonic() + args.seconds
            if args.swap_every:
                swapper = Swapper(host, port, stores, store_paths, args.swap_every, stop_at)
                swapper.start()
            clients = [Client(host, port, [f"c{c}-u{u}" for u in range(args.users_per_client)], item_ids, stop_at,
                              args.recommend_every, seed=c, events_per_request=args.events_per_request,
                              bad_every=args.bad_every) for c in range(args.clients)]
            started = time.perf_counter()
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            elapsed = time.perf_counter() - started
            if swapper is not None:
                swapper.join()

            accepted = collections.Counter()
            for client in clients:
                accepted.update(client.accepted)
            conn = http.client.HTTPConnection(host, port, timeout=60)
            mismatched = []
            for user, n in sorted(accepted.items()):
                conn.request("GET", f"/users/{user}/state")
                response = conn.getresponse()
                payload = json.loads(response.read())
                if response.status != 200 or payload["n_events"] != n:
                    mismatched.append((user, n, payload.get("n_events")))
            conn.close()
        finally:
            server.stop(timeout=60)

    latency = collections.defaultdict(list)
    errors, bad = collections.Counter(), collections.Counter()
    for client in clients:
        for route, values in client.latency.items():
            latency[route].extend(values)
        errors.update(client.errors)
        bad.update(client.bad)
    served = sum(len(v) for v in latency.values())
    record = {
        "benchmark": "http_load", "machine": machine(), "items": None if args.run else args.items,
        "retrieval": args.retrieval, "clients": args.clients, "seconds": round(elapsed, 2),
        "events_per_request": args.events_per_request, "access_log": not args.no_access_log,
        "invalid_requests_by_status": {str(k): v for k, v in sorted(bad.items())},
        "requests": served, "requests_per_s": round(served / elapsed, 1), "errors": dict(errors),
        "error_count": sum(errors.values()), "events_accepted": sum(accepted.values()),
        "users_checked": len(accepted), "mismatched_users": len(mismatched), "mismatch_examples": mismatched[:5],
        "latency": {route: {"n": len(v), **percentiles_ms(v)} for route, v in latency.items()},
    }
    rows = [[route, v["n"], v["p50_ms"], v["p90_ms"], v["p99_ms"]] for route, v in record["latency"].items()]
    if swapper is not None:
        starts = collections.defaultdict(list)
        for client in clients:
            for route, values in client.starts.items():
                starts[route].extend(values)
        record["swaps"] = {"every_s": args.swap_every, "reloads": len(swapper.windows),
                           "failed": len(swapper.failures), "failures": swapper.failures[:3],
                           "build_ms": percentiles_ms(swapper.build_seconds) if swapper.build_seconds else None}
        for route in ("events", "recommendations"):
            during = _during(starts[route], latency[route], swapper.windows)
            values = np.asarray(latency[route])
            for label, mask in (("during reloads", during), ("between reloads", ~during)):
                if mask.any():
                    stats = percentiles_ms(values[mask].tolist())
                    record["swaps"][f"{route} {label}"] = {"n": int(mask.sum()), **stats}
                    rows.append([f"{route}, {label}", int(mask.sum()), stats["p50_ms"], stats["p90_ms"], stats["p99_ms"]])
        record["error_count"] += len(swapper.failures)
    print(format_table(["route", "requests", "p50 ms", "p90 ms", "p99 ms"], rows))
    if swapper is not None:
        build = [round(x, 2) for x in swapper.build_seconds]
        print(f"store swaps: {len(swapper.windows)} reloads every {args.swap_every:g} s, {len(swapper.failures)} "
              f"failed; server build time per reload (s): {build}")
    if bad:
        print(f"invalid requests by status: {record['invalid_requests_by_status']}")
    print(f"{served} requests in {elapsed:.1f} s ({record['requests_per_s']}/s) from {args.clients} clients; "
          f"{record['events_accepted']} events accepted ({record['events_accepted'] / elapsed:.1f}/s); "
          f"errors: {record['error_count']}; users whose state misses an accepted event: {len(mismatched)} "
          f"of {len(accepted)}")
    emit_json(record, args.json)
    return 0 if record["error_count"] == 0 and not mismatched else 1


if __name__ == "__main__":
    sys.exit(main())
