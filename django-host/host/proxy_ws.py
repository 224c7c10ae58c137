"""WebSocket forward: /api/ws in the browser <-> <relay>/ws, frames copied both ways.

The relay authenticates the socket itself (spec/openapi.yaml, GET /ws) and checks Origin, so
the browser's Origin and subprotocols are passed through unchanged; close codes and reasons
are carried across in both directions.
"""

from __future__ import annotations

import asyncio
import json
import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin, Subprotocol

from host.config import HostConfig
from host.forwarding import request_headers, upstream_target
from host.headers import api_security_header_pairs

log = logging.getLogger('host.proxy')

# Codes that mean "no code" or "abnormal" (RFC 6455 §7.4.1) and may never be sent in a frame.
_RESERVED = {1005, 1006, 1015}
# RFC 6455 / IANA registry: 1014 "Bad Gateway", the upstream ended abnormally.
BAD_GATEWAY_CLOSE = 1014


def _origin(scope: dict) -> Origin | None:
    for name, value in scope.get('headers', []):
        if name == b'origin':
            return Origin(value.decode('latin-1'))
    return None


def _to_upstream_code(code: int | None) -> int:
    if code is None or code == 1005:
        return 1000
    if code in _RESERVED:
        return 1001  # the browser went away without a close frame
    return code


def _to_client_code(code: int | None) -> int:
    if code is None or code == 1005:
        return 1000
    if code in _RESERVED:
        return BAD_GATEWAY_CLOSE
    return code


class WebSocketForward:
    def __init__(self, config: HostConfig) -> None:
        self.config = config

    async def __call__(self, scope: dict, receive, send) -> None:
        first = await receive()
        if first['type'] != 'websocket.connect':
            return
        url = self.config.relay_ws_url + upstream_target(scope).decode('latin-1')
        subprotocols = [Subprotocol(s) for s in scope.get('subprotocols') or []]
        try:
            upstream = await connect(
                url,
                origin=_origin(scope),
                subprotocols=subprotocols or None,
                additional_headers=[
                    (n.decode('latin-1'), v.decode('latin-1')) for n, v in request_headers(scope, websocket=True)
                ],
                user_agent_header=None,
                compression=None,
                open_timeout=self.config.connect_timeout,
                max_size=self.config.ws_max_bytes,
                proxy=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            await self._deny(
                scope, send, status, bytes(exc.response.body or b''), exc.response.headers.get('content-type')
            )
            return
        except TimeoutError:
            await self._deny_json(scope, send, 504, 'gateway_timeout', 'the relay did not answer in time')
            return
        except (OSError, InvalidHandshake) as exc:
            log.warning('relay websocket unreachable (%s)', type(exc).__name__)
            await self._deny_json(scope, send, 502, 'bad_gateway', 'the relay is not reachable')
            return

        await send(
            {
                'type': 'websocket.accept',
                'subprotocol': upstream.subprotocol,
                'headers': api_security_header_pairs(scope.get('scheme') == 'wss'),
            }
        )
        await self._pump(upstream, receive, send)

    async def _pump(self, upstream: ClientConnection, receive, send) -> None:
        client_gone = asyncio.Event()

        async def client_to_upstream() -> None:
            while True:
                message = await receive()
                if message['type'] == 'websocket.receive':
                    data = message.get('bytes')
                    await upstream.send(data if data is not None else message.get('text', ''))
                elif message['type'] == 'websocket.disconnect':
                    client_gone.set()
                    await upstream.close(_to_upstream_code(message.get('code')), message.get('reason') or '')
                    return

        async def upstream_to_client() -> None:
            try:
                async for data in upstream:
                    if isinstance(data, bytes):
                        await send({'type': 'websocket.send', 'bytes': data})
                    else:
                        await send({'type': 'websocket.send', 'text': data})
            except ConnectionClosed:
                pass
            if client_gone.is_set():
                return
            # close_code is the relay's code, or 1006 when it vanished without a close frame.
            await send(
                {
                    'type': 'websocket.close',
                    'code': _to_client_code(upstream.close_code),
                    'reason': upstream.close_reason or '',
                }
            )

        tasks = {asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())}
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                # A failure on one side (e.g. the browser socket already gone) ends both.
                if task.exception() is not None and not isinstance(task.exception(), ConnectionClosed):
                    log.warning('websocket forward ended with %s', type(task.exception()).__name__)
            if pending:
                # The browser left: wait briefly for the relay's close handshake to finish.
                # The relay closed: the browser side was told; stop reading from it.
                _done, still = await asyncio.wait(pending, timeout=self.config.connect_timeout)
                for task in still:
                    task.cancel()
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()

    @staticmethod
    async def _deny(scope: dict, send, status: int, body: bytes, content_type: str | None) -> None:
        if 'websocket.http.response' not in scope.get('extensions', {}):
            await send({'type': 'websocket.close', 'code': 1008})
            return
        headers = [(b'content-type', (content_type or 'application/octet-stream').encode('latin-1'))]
        await send(
            {
                'type': 'websocket.http.response.start',
                'status': status,
                'headers': [
                    *headers,
                    (b'cache-control', b'no-store'),
                    *api_security_header_pairs(scope.get('scheme') == 'wss'),
                ],
            }
        )
        await send({'type': 'websocket.http.response.body', 'body': body})

    @classmethod
    async def _deny_json(cls, scope: dict, send, status: int, code: str, message: str) -> None:
        body = json.dumps({'error': code, 'message': message}).encode()
        await cls._deny(scope, send, status, body, 'application/json')
