"""uvicorn's h11 protocol with a deadline for the request head.

uvicorn (checked on 0.54) closes a keep-alive connection that stays idle between requests
(`timeout_keep_alive`), but a connection that never sends a byte, or that sends part of a
request head (`POST /events HTTP/1.1\\r\\nHost: x\\r\\n` and no blank line), is kept forever:
the keep-alive timer is not armed before the first request and is cancelled by any byte
received. Enough such clients hold every slot of `limit_concurrency` (a "slowloris").

`head_timeout_protocol(seconds)` is the h11 protocol with one more timer: the request head
must be complete within `seconds` of the connection opening, or of the previous response
being sent. Otherwise the connection is closed, with a `408 Request Timeout` if part of a
head had arrived (silently if nothing had), and a line on the `hiertcn.server` logger. Once
a head is complete the timer stops; the body has its own deadline in the app
(`http_server.read_body`). The keep-alive timer keeps working as before.
"""

from __future__ import annotations

import logging

import h11

_LOG = logging.getLogger("hiertcn.server")
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"connection: close\r\ncontent-length: 39\r\n\r\nthe request head did not arrive in time")


def head_timeout_protocol(seconds):
    """uvicorn's `H11Protocol` with a request-head deadline, for `uvicorn.Config(http=...)`.

    Args:
        seconds: float > 0. Time a client has to send a complete request head.

    Returns:
        A subclass of `uvicorn.protocols.http.h11_impl.H11Protocol`.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    seconds = float(seconds)
    if not seconds > 0:
        raise ValueError(f"the head timeout must be > 0 seconds, got {seconds}")

    class HeadTimeoutH11Protocol(H11Protocol):
        head_timeout = seconds

        def connection_made(self, transport):
            self._head_timer = None
            super().connection_made(transport)
            self._watch_head()

        def data_received(self, data):
            super().data_received(data)
            self._watch_head()

        def on_response_complete(self):
            super().on_response_complete()
            self._watch_head()

        def connection_lost(self, exc):
            self._stop_head_timer()
            super().connection_lost(exc)

        def _watch_head(self):
            """Run the timer while the next request's head is incomplete, stop it once it is not."""
            waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
            if waiting and self._head_timer is None:
                self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)
            elif not waiting:
                self._stop_head_timer()

        def _stop_head_timer(self):
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self):
            self._head_timer = None
            if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
                return
            partial = bool(self.conn.trailing_data[0])
            if partial:
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()
            client = "%s:%d" % tuple(self.client[:2]) if self.client else "?"
            _LOG.info("closed the connection from %s: %s within %g s", client,
                      "the request head was incomplete" if partial else "no request", self.head_timeout)

    return HeadTimeoutH11Protocol
