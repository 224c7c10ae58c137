"""Forwarding one /api request that has a body, on its own connection to the relay.

httpx (which forwards requests without a body, host/proxy_http.py) sends the whole request body
before it reads the answer. For an upload that means: a relay that refuses early (401, 413)
is not heard until the browser has sent everything, and a browser that never sends its body
holds a pooled relay connection until the read timeout. Here the two directions run at once,
with h11 (the HTTP/1.1 state machine uvicorn and httpx use) doing all framing:
- the body is copied chunk by chunk, with an idle and a total deadline (408 when missed);
- the relay's answer is read while the body is still arriving; an answer that comes first is
  passed to the browser at once, the upload is stopped, and the browser's connection is closed
  (the rest of its body is never read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass

import h11

from host.config import HostConfig

log = logging.getLogger('host.proxy')

READ_SIZE = 64 * 1024


async def receive_with_deadlines(receive, config: HostConfig, deadline: float) -> dict:
    """The next ASGI message of the request body, within the idle and total deadlines."""
    wait = min(config.body_idle_timeout, deadline - time.monotonic())
    if wait <= 0:
        raise BodyTimeout
    try:
        message = await asyncio.wait_for(receive(), wait)
    except TimeoutError:
        raise BodyTimeout from None
    if message['type'] == 'http.disconnect':
        raise ClientGone
    return message


async def read_small_body(receive, config: HostConfig) -> bytes:
    """A whole small request body (its Content-Length is at most SMALL_BODY_BYTES, enforced by
    the ASGI server's framing), read before the relay is contacted at all."""
    deadline = time.monotonic() + config.body_timeout
    parts: list[bytes] = []
    while True:
        message = await receive_with_deadlines(receive, config, deadline)
        parts.append(message.get('body', b''))
        if not message.get('more_body', False):
            return b''.join(parts)


class ClientGone(Exception):
    """The browser disconnected while its request body was still arriving."""


class BodyTimeout(Exception):
    """The request body paused longer than the idle deadline or missed the total one."""


class UpstreamFailed(Exception):
    """No answer from the relay: `timeout` tells 504 from 502."""

    def __init__(self, reason: str, *, timeout: bool) -> None:
        super().__init__(reason)
        self.timeout = timeout


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    # False when the browser's body was not read to its end (the relay answered first).
    body_consumed: bool


class BodyExchange:
    def __init__(self, config: HostConfig, host: str, port: int, tls: bool) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.tls = tls
        self.conn = h11.Connection(h11.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=ssl.create_default_context() if self.tls else None),
                self.config.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamFailed('connect timeout', timeout=True) from None
        except OSError as exc:
            raise UpstreamFailed(type(exc).__name__, timeout=False) from None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _write(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def _pump_body(self, receive) -> None:
        """Browser → relay. Ends normally at the end of the body."""
        deadline = time.monotonic() + self.config.body_timeout
        while True:
            message = await receive_with_deadlines(receive, self.config, deadline)
            chunk = message.get('body', b'')
            if chunk:
                await self._write(self.conn.send(h11.Data(data=chunk)))
            if not message.get('more_body', False):
                await self._write(self.conn.send(h11.EndOfMessage()))
                return

    async def _next_event(self, timeout: float | None):
        assert self.reader is not None
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            read = self.reader.read(READ_SIZE)
            try:
                data = await (asyncio.wait_for(read, timeout) if timeout is not None else read)
            except TimeoutError:
                raise UpstreamFailed('read timeout', timeout=True) from None
            except OSError as exc:
                raise UpstreamFailed(type(exc).__name__, timeout=False) from None
            self.conn.receive_data(data)

    async def _read_head(self) -> h11.Response:
        while True:
            try:
                event = await self._next_event(None)
            except h11.RemoteProtocolError as exc:
                raise UpstreamFailed('bad response', timeout=False) from exc
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise UpstreamFailed('closed before answering', timeout=False)
            # h11.InformationalResponse (100 Continue): not passed on.

    async def start(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], receive) -> Answer:
        """Sends the request and its body; returns the relay's answer head (body via `body()`)."""
        if not any(n == b'content-length' for n, _ in headers):
            headers = [*headers, (b'transfer-encoding', b'chunked')]
        if not any(n == b'host' for n, _ in headers):
            headers = [(b'host', self.host.encode('idna')), *headers]
        await self.open()
        try:
            await self._write(self.conn.send(h11.Request(method=method, target=target, headers=headers)))
        except OSError as exc:
            raise UpstreamFailed(type(exc).__name__, timeout=False) from None
        pump = asyncio.create_task(self._pump_body(receive))
        head = asyncio.create_task(self._read_head())
        try:
            done, _ = await asyncio.wait({pump, head}, return_when=asyncio.FIRST_COMPLETED)
            if head in done and not pump.done():
                # The relay answered before the body was in: stop reading the browser's body.
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
                response = head.result()
                return Answer(response.status_code, list(response.headers), body_consumed=False)
            error = pump.exception()
            if isinstance(error, (ClientGone, BodyTimeout)):
                raise error
            if error is not None and not isinstance(error, OSError):
                raise error
            # Body sent (or the relay stopped reading it, an OSError: it may have answered and
            # closed, as it does for an early refusal). Its answer is due now.
            finished, _ = await asyncio.wait({head}, timeout=self.config.read_timeout)
            if not finished:
                raise UpstreamFailed('read timeout', timeout=True)
            response = head.result()
            return Answer(response.status_code, list(response.headers), body_consumed=error is None)
        finally:
            for task in (pump, head):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def body(self):
        """The relay's response body, chunk by chunk; raises UpstreamFailed if it breaks off."""
        while True:
            try:
                event = await self._next_event(self.config.read_timeout)
            except h11.RemoteProtocolError as exc:
                raise UpstreamFailed('bad response body', timeout=False) from exc
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise UpstreamFailed('closed mid-body', timeout=False)
