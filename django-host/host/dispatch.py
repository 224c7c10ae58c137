"""The ASGI entry point: /api/* (HTTP and WebSocket) to the relay forward, all else to Django.

Lifespan is handled here because Django's ASGI handler only speaks HTTP; shutdown closes the
forward's pooled connections to the relay.
"""

from __future__ import annotations

import ipaddress

from host import access_log
from host.config import HostConfig
from host.forwarding import host_allowed, is_api_path
from host.guard import Refusal, check_request
from host.proxy_http import HttpForward, send_json_error
from host.proxy_ws import WebSocketForward


def client_key(address: str) -> str:
    """The key a per-address limit counts a client under: an IPv6 client by its /64, the block one
    subscriber holds and any of whose addresses it may use (RFC 6177), and an IPv4-mapped address
    as the IPv4 address (relay/src/http/client-ip.ts keys its limits the same way)."""
    try:
        ip = ipaddress.ip_address(address.split('%', 1)[0])
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f'{ip}/64', strict=False))
    return str(ip)


class ClientLimiter:
    """At most `limit` /api requests in progress per client address, so that one client (a
    slowloris, a runaway script) cannot take every connection to the relay. One event loop
    serves the host, so plain counters need no lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        count = self.active.get(client, 0)
        if count >= self.limit:
            return False
        self.active[client] = count + 1
        return True

    def release(self, client: str) -> None:
        count = self.active.get(client, 0) - 1
        if count > 0:
            self.active[client] = count
        else:
            self.active.pop(client, None)


class HostApplication:
    def __init__(self, config: HostConfig, django_app) -> None:
        self.config = config
        self.django_app = django_app
        self.http_forward = HttpForward(config)
        self.ws_forward = WebSocketForward(config)
        self.limiter = ClientLimiter(config.max_requests_per_client)

    async def __call__(self, scope: dict, receive, send) -> None:
        kind = scope['type']
        if kind == 'lifespan':
            await self._lifespan(receive, send)
            return
        if not host_allowed(scope, self.config.allowed_hosts):
            # Checked here for every request, not only by Django, because /api never reaches it.
            await self._reject_host(scope, receive, send)
            return
        api = is_api_path(scope['path'])
        try:
            check_request(scope, api=api)
        except Refusal as refusal:
            await self._refuse(scope, receive, send, refusal)
            return
        if api:
            client = client_key(str((scope.get('client') or ('-',))[0]))
            if not self.limiter.acquire(client):
                await self._refuse(
                    scope,
                    receive,
                    send,
                    Refusal(429, 'too_many_requests', 'too many requests in progress from this address', close=True),
                )
                return
            try:
                if kind == 'http':
                    await self.http_forward(scope, receive, send)
                else:
                    await self.ws_forward(scope, receive, send)
            finally:
                self.limiter.release(client)
            return
        if kind == 'websocket':
            # The only WebSocket is the relay's, under /api.
            await receive()
            await send({'type': 'websocket.close', 'code': 1008})
            return
        await self.django_app(scope, receive, send)

    async def _refuse(self, scope: dict, receive, send, refusal: Refusal) -> None:
        if scope['type'] == 'http':
            extra = [(b'retry-after', b'1')] if refusal.status == 429 else []
            await send_json_error(
                send, scope, refusal.status, refusal.code, refusal.message, close=refusal.close, extra_headers=extra
            )
        else:
            await receive()
            await send({'type': 'websocket.close', 'code': 1013 if refusal.status == 429 else 1008})

    async def _reject_host(self, scope: dict, receive, send) -> None:
        if scope['type'] == 'http':
            await send_json_error(send, scope, 400, 'bad_host', 'this host name is not served here')
        else:
            await receive()
            await send({'type': 'websocket.close', 'code': 1008})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                # After uvicorn configured logging, so the filter stays on its access logger.
                access_log.install()
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                await self.http_forward.aclose()
                await send({'type': 'lifespan.shutdown.complete'})
                return


def build_application(config: HostConfig) -> HostApplication:
    from django.core.asgi import get_asgi_application

    return HostApplication(config, get_asgi_application())
