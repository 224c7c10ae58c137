"""What uvicorn's access log may contain (README "Reliability", SECURITY.md "Logs").

uvicorn logs `client - "METHOD /path?query HTTP/1.1" status`. Query strings can carry
credentials (the relay never accepts a token in a URL, but a client may still put one there),
so the query is dropped from every line; the client address, which a trusted proxy supplies
through X-Forwarded-For, is written only when it is an IP address (host/guard.py also refuses
such requests), so no client can write text of its choosing into the log.
"""

from __future__ import annotations

import logging

from host.guard import valid_ip


class AccessLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.protocols.http: (client_addr, method, full_path, http_version, status_code)
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            host, _sep, port = str(client).rpartition(':')
            if not (valid_ip(host.strip('[]')) and port.isdigit()) and not valid_ip(str(client)):
                client = '-'
            record.args = (client, method, str(path).split('?', 1)[0][:512], version, status)
        return True


def install() -> None:
    logger = logging.getLogger('uvicorn.access')
    if not any(isinstance(f, AccessLogFilter) for f in logger.filters):
        logger.addFilter(AccessLogFilter())
