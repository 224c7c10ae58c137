"""Run an ASGI app under a real uvicorn server on an ephemeral loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from host.protocol import GuardedH11Protocol


class ThreadedServer:
    def __init__(
        self,
        app,
        *,
        forwarded_allow_ips: str = '127.0.0.1',
        protocol=GuardedH11Protocol,
        log_level: str = 'warning',
        log_config=None,
    ) -> None:
        self.config = uvicorn.Config(
            app,
            host='127.0.0.1',
            port=0,
            log_level=log_level,
            # The protocol class npm start and the container use (host/protocol.py).
            http=protocol,
            **({'log_config': log_config} if log_config is not None else {}),
            lifespan='on',
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError('test server did not start')
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
