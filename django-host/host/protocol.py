"""uvicorn's h11 HTTP protocol with two additions (`uvicorn --http host.protocol:GuardedH11Protocol`).

- A request head must be complete within SECURE_DROP_HEADERS_TIMEOUT seconds of its first byte
  (or of the connection opening). uvicorn cancels its keep-alive timer on the first byte and has
  no other deadline, so a client sending half a header line forever held a connection.
- The errors h11 raises before the ASGI app runs are JSON like every other error of the API
  (spec/openapi.yaml info.description), not uvicorn's text/plain "Invalid HTTP request received."
"""

from __future__ import annotations

import asyncio
import json
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from host.config import ConfigError, _positive_float
from host.guard import MAX_TARGET_BYTES

DEFAULT_HEADERS_TIMEOUT = 20.0


def _headers_timeout() -> float:
    try:
        return _positive_float(dict(os.environ), 'SECURE_DROP_HEADERS_TIMEOUT', DEFAULT_HEADERS_TIMEOUT)
    except ConfigError:
        return DEFAULT_HEADERS_TIMEOUT  # host.config.load_config refuses the value at start


_REASONS = {
    400: b'Bad Request',
    408: b'Request Timeout',
    414: b'URI Too Long',
    431: b'Request Header Fields Too Large',
}


def raw_json_error(status: int, code: str, message: str) -> bytes:
    body = json.dumps({'error': code, 'message': message}).encode()
    return (
        b'HTTP/1.1 %d %s\r\n' % (status, _REASONS[status])
        + b'content-type: application/json\r\n'
        + b'content-length: %d\r\n' % len(body)
        + b'cache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n'
        + body
    )


class GuardedH11Protocol(H11Protocol):
    headers_timeout: float = _headers_timeout()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.headers_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        # Waiting for a request head (first request, or the next one on a kept-alive connection).
        if self.conn.their_state is h11.IDLE:
            self._arm_head_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Between requests uvicorn's keep-alive timeout applies until the next first byte.
        self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self.conn.our_state is h11.IDLE:
            self.transport.write(raw_json_error(408, 'request_timeout', 'the request headers took too long to arrive'))
        self.transport.close()

    def send_400_response(self, _msg: str) -> None:  # uvicorn's text is replaced
        self._disarm_head_timer()
        pending, _closed = self.conn.trailing_data
        self.transport.write(refusal_of_head(pending, self.conn._max_incomplete_event_size))
        self.transport.close()


def refusal_of_head(pending: bytes, max_incomplete: int) -> bytes:
    """The answer to a request head h11 refused, given what it still held unparsed.

    A head over h11's limit is refused before host.guard sees it, and whether that happens
    depends on how the bytes arrived: a long head read in one piece is parsed and reaches the
    guard. So the same rule as the guard's decides here: a request target over
    MAX_TARGET_BYTES is 414, any other oversized head 431.
    """
    if len(pending) < max_incomplete:
        return raw_json_error(400, 'bad_request', 'malformed HTTP request')
    line = pending.split(b'\r\n', 1)[0]
    parts = line.split(b' ', 2)
    if len(parts) > 1 and len(parts[1]) > MAX_TARGET_BYTES:
        return raw_json_error(414, 'uri_too_long', 'request target too long')
    return raw_json_error(431, 'headers_too_large', 'request headers too large')
