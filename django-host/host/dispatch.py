"""The ASGI entry point: /api/* (HTTP and WebSocket) to the relay forward, all else to Django.

Lifespan is handled here because Django's ASGI handler only speaks HTTP; shutdown closes the
forward's pooled connections to the relay.
"""

from __future__ import annotations

from host.config import HostConfig
from host.forwarding import host_allowed, is_api_path
from host.proxy_http import HttpForward, send_json_error
from host.proxy_ws import WebSocketForward


class HostApplication:
    def __init__(self, config: HostConfig, django_app) -> None:
        self.config = config
        self.django_app = django_app
        self.http_forward = HttpForward(config)
        self.ws_forward = WebSocketForward(config)

    async def __call__(self, scope: dict, receive, send) -> None:
        kind = scope['type']
        if kind == 'lifespan':
            await self._lifespan(receive, send)
            return
        if not host_allowed(scope, self.config.allowed_hosts):
            # Checked here for every request, not only by Django, because /api never reaches it.
            await self._reject_host(scope, receive, send)
            return
        if is_api_path(scope['path']):
            if kind == 'http':
                await self.http_forward(scope, receive, send)
            else:
                await self.ws_forward(scope, receive, send)
            return
        if kind == 'websocket':
            # The only WebSocket is the relay's, under /api.
            await receive()
            await send({'type': 'websocket.close', 'code': 1008})
            return
        await self.django_app(scope, receive, send)

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
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                await self.http_forward.aclose()
                await send({'type': 'lifespan.shutdown.complete'})
                return


def build_application(config: HostConfig) -> HostApplication:
    from django.core.asgi import get_asgi_application

    return HostApplication(config, get_asgi_application())
