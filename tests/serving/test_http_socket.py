"""The HTTP server over a real socket (uvicorn in a thread on 127.0.0.1): what TestClient cannot show.

A client that announces 100 body bytes and sends 9 gets a 408 after the body timeout and
loses its connection (it does not hold the server); so does one that sends half a request head
(after the head timeout), before its first request or between two on a keep-alive connection,
and one that connects and sends nothing is disconnected; forty such clients at once (more than
the concurrency limit) are all gone after the head timeout and the server serves again. A
client that disconnects mid-body, or right after sending a request, leaves no traceback in the
server's output; the server keeps serving others throughout.
"""

import http.client
import json
import socket
import time

import pytest

from hiertcn_keras.serving.http_server import RecommenderServer
from hiertcn_keras.serving.online_recommender import OnlineRecommender


@pytest.fixture(scope="module")
def server(learned_run, tmp_path_factory):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path_factory.mktemp('sock') / 'users.sqlite'}")
    srv = RecommenderServer(rec, port=0, body_timeout=1.0, head_timeout=1.0, timeout_keep_alive=5.0,
                            limit_concurrency=32).start()
    yield srv
    srv.stop()
    rec.close()


def healthy(srv):
    conn = http.client.HTTPConnection(*srv.server_address, timeout=30)
    conn.request("GET", "/healthz")
    status = conn.getresponse().status
    conn.close()
    return status == 200


def test_a_request_over_the_socket(server):
    assert server.server_address[0] == "127.0.0.1"
    conn = http.client.HTTPConnection(*server.server_address, timeout=30)
    conn.request("POST", "/events", body=json.dumps({"user": "s1", "item": "i1", "timestamp": 5}),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["accepted"] == 1
    conn.close()


def test_a_body_that_never_completes_times_out(server):
    sock = socket.create_connection(server.server_address, timeout=30)
    sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                 b'{"user": ')
    started = time.monotonic()
    reply = b""
    while True:  # the server answers 408 and closes: recv returns b"" at the end
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    waited = time.monotonic() - started
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply
    assert 0.5 < waited < 20
    assert healthy(server)


def read_until_closed(sock):
    """Everything the server sends until it closes the connection, and the seconds that took."""
    started, reply = time.monotonic(), b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return reply, time.monotonic() - started
        reply += chunk


@pytest.mark.parametrize("sent", [b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Le", b"GET /heal", b""],
                         ids=["half a head", "a few bytes", "nothing"])
def test_a_head_that_never_completes_is_closed_after_the_head_timeout(server, sent):
    sock = socket.create_connection(server.server_address, timeout=30)
    sock.sendall(sent)
    assert healthy(server)  # served while the slow client waits
    reply, waited = read_until_closed(sock)
    sock.close()
    assert waited < 20  # the head timeout is 1 s; the keep-alive timeout (5 s) is not what closed it
    if sent:
        assert reply.startswith(b"HTTP/1.1 408") and b"request head did not arrive" in reply
    else:
        assert reply == b""


def test_a_half_head_after_a_keep_alive_request_is_closed(server):
    sock = socket.create_connection(server.server_address, timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = b""
    while b"\r\n\r\n" not in first:
        first += sock.recv(65536)
    head, body = first.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200") and len(body) == length  # the whole first response
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    reply, waited = read_until_closed(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408") and waited < 4.5  # before the 5 s keep-alive timeout


def test_more_slow_clients_than_the_concurrency_limit_are_all_dropped(server):
    socks = [socket.create_connection(server.server_address, timeout=30) for _ in range(40)]
    for sock in socks:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    for sock in socks:
        reply, _ = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 408")
        sock.close()
    assert time.monotonic() - started < 20
    assert healthy(server)


def test_disconnects_print_no_traceback(server, capfd, caplog):
    for payload in (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"us",
                    b"GET /users/s1/recommendations?k=3 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /ev"):
        sock = socket.create_connection(server.server_address, timeout=30)
        sock.sendall(payload)
        sock.close()
    time.sleep(1.5)
    assert healthy(server)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception" not in out + err
    assert not [r for r in caplog.records if r.exc_info] and "Traceback" not in caplog.text
    access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hiertcn.access"]
    assert {"method": "POST", "path": "/events", "status": 499} in [
        {k: a[k] for k in ("method", "path", "status")} for a in access]  # the access log names the disconnect


def test_access_log_lines_are_json(server, caplog):
    assert healthy(server)
    # The server thread writes the line after the response has gone out: wait for it (bounded).
    deadline = time.monotonic() + 10
    lines = []
    while not lines and time.monotonic() < deadline:
        lines = [json.loads(r.getMessage()) for r in list(caplog.records)
                 if r.name == "hiertcn.access" and '"/healthz"' in r.getMessage()]
        time.sleep(0.05)
    assert lines, "no access line for GET /healthz within 10 s"
    line = lines[0]
    assert line["method"] == "GET" and line["status"] == 200 and line["ms"] >= 0 and line["client"]
