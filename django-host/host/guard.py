"""Checks made on every request before it is served or forwarded (README "Reliability").

Each failure is a 4xx JSON error and nothing reaches the relay:
- request target longer than MAX_TARGET_BYTES → 414; header block over MAX_HEADER_BYTES → 431
  (h11 accepts a long head that arrives in one piece; the relay would answer 431 itself, but
  the forward must not even build such a request);
- both Content-Length and Transfer-Encoding, or several Content-Length values → 400: the
  framing is ambiguous (RFC 9112 §6.1, §6.3: request smuggling), and the forward would pass
  one framing while the relay reads another;
- an /api request whose first path segment is not literally "api" once decoded, e.g.
  /api%2fhealth (decoded /api/health): the forward maps the raw path, which then has no
  "/" after the prefix and would be joined to the relay's origin as something else;
- a client address that is not an IP address: uvicorn takes it from a trusted proxy's
  X-Forwarded-For without checking it, and it is logged and sent to the relay.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote_to_bytes

from host.forwarding import API_PREFIX

MAX_TARGET_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        # The request's body framing cannot be trusted: the connection must not be reused.
        self.close = close


def valid_ip(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _first_segment(raw_path: bytes) -> bytes:
    return raw_path[1:].split(b'/', 1)[0] if raw_path.startswith(b'/') else raw_path


def check_request(scope: dict, *, api: bool) -> None:
    """Raises Refusal when the request must not be served."""
    raw_path = scope.get('raw_path') or scope.get('path', '').encode('utf-8', 'replace')
    if len(raw_path) + len(scope.get('query_string') or b'') > MAX_TARGET_BYTES:
        raise Refusal(414, 'uri_too_long', 'request target too long')
    headers = scope.get('headers', [])
    if sum(len(n) + len(v) + 4 for n, v in headers) > MAX_HEADER_BYTES:
        raise Refusal(431, 'headers_too_large', 'request headers too large')
    client = scope.get('client')
    if client and not valid_ip(client[0]):
        raise Refusal(400, 'bad_forwarded_for', 'the forwarded client address is not an IP address')
    if not api:
        return
    if unquote_to_bytes(_first_segment(raw_path)) != API_PREFIX[1:].encode():
        raise Refusal(400, 'bad_path', 'the /api prefix must not contain encoded characters')
    if scope['type'] != 'http':
        return
    lengths = [v for n, v in headers if n == b'content-length']
    has_te = any(n == b'transfer-encoding' for n, _ in headers)
    if has_te and lengths:
        raise Refusal(400, 'bad_request', 'Content-Length and Transfer-Encoding together', close=True)
    if len(lengths) > 1 or (lengths and not lengths[0].strip().isdigit()):
        raise Refusal(400, 'bad_request', 'invalid Content-Length', close=True)
