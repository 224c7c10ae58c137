"""Hostile clients against the host under a real uvicorn, over raw sockets (README "Reliability").

Each test is named after the finding it reproduces: request smuggling probes, encoded slashes,
oversized targets and headers, half-sent heads, stalled bodies holding relay connections, an
early answer from the relay that never reached the browser, one client taking every slot, and
credentials or forged text in the access log. Every refusal is a 4xx JSON error, nothing is
forwarded, and no traceback is logged.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import httpx
import pytest

from host.dispatch import build_application
from host.protocol import GuardedH11Protocol, refusal_of_head
from tests.conftest import host_config
from tests.servers import ThreadedServer


class Records(logging.Handler):
    """Every log record of uvicorn and the host, formatted with any traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter('%(name)s %(levelname)s %(message)s'))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return '\n'.join(self.lines)


LOGGERS = ('uvicorn', 'uvicorn.error', 'uvicorn.access', 'host', '')


@pytest.fixture
def logs():
    handler = Records()
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
    yield handler
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(' ')[1]), headers, body


def exchange(port: int, data: bytes, *, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Sends `data`, reads until the server closes or one Content-Length framed answer is in."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b''
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            if b'\r\n\r\n' in out:
                _status, headers, body = parse(out)
                if 'content-length' in headers and len(body) >= int(headers['content-length']):
                    break
    assert out, 'no answer'
    return parse(out)


def port_of(url: str) -> int:
    return int(url.rsplit(':', 1)[1])


def assert_json_error(answer, status: int, code: str | None = None) -> dict:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers['content-type'] == 'application/json'
    payload = json.loads(body)
    assert set(payload) == {'error', 'message'}
    if code:
        assert payload['error'] == code
    return payload


H = b'Host: localhost\r\n'

SMUGGLING = {
    'cl-te': b'POST /api/echo HTTP/1.1\r\n' + H + b'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'te-cl': b'POST /api/echo HTTP/1.1\r\n' + H + b'Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG',
    'te-obfuscated': b'POST /api/echo HTTP/1.1\r\n'
    + H
    + b'Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabc',
    'two-lengths': b'POST /api/echo HTTP/1.1\r\n' + H + b'Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
}


@pytest.mark.parametrize('probe', SMUGGLING, ids=list(SMUGGLING))
def test_request_smuggling_probe_is_500(host, upstream, logs, probe):
    before = len(upstream.seen)
    status, headers, body = exchange(port_of(host), SMUGGLING[probe])
    assert_json_error((status, headers, body), 400)
    assert headers.get('connection') == 'close'
    assert len(upstream.seen) == before, 'nothing may reach the relay'
    assert 'Traceback' not in logs.text


ENCODED = ['/api%2fhealth', '/api%2f@127.0.0.1:9/x', '/api%2F%2Fevil.example/x', '/api%2F%2F%2F', '/ap%69%2fx']


@pytest.mark.parametrize('path', ENCODED)
def test_encoded_slash_in_path_is_500(host, upstream, logs, path):
    before = len(upstream.seen)
    answer = exchange(port_of(host), f'GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n'.encode())
    assert_json_error(answer, 400, 'bad_path')
    assert len(upstream.seen) == before
    assert 'Traceback' not in logs.text


def test_70000_character_photo_id_is_500(host, upstream, logs):
    before = len(upstream.seen)
    answer = exchange(port_of(host), b'GET /api/get_photo/' + b'a' * 70_000 + b' HTTP/1.1\r\n' + H + b'\r\n')
    assert_json_error(answer, 414, 'uri_too_long')
    assert len(upstream.seen) == before
    assert 'Traceback' not in logs.text


def test_a_head_h11_refuses_gets_the_guards_status_however_its_bytes_arrived():
    # Read in pieces, a long head is refused by h11 before the guard sees it; read in one
    # piece, it reaches the guard. Both must give the same answer (this decided 414 or 431 by
    # the socket's read sizes before).
    limit = 16 * 1024
    long_target = b'GET /api/get_photo/' + b'a' * 70_000
    for pending in (long_target[:limit], long_target + b' HTTP/1.1\r\nHost: x\r\n'):
        assert refusal_of_head(pending, limit).startswith(b'HTTP/1.1 414 URI Too Long\r\n')
        assert b'"uri_too_long"' in refusal_of_head(pending, limit)
    big_headers = b'GET /api/health HTTP/1.1\r\nX-Fill: ' + b'b' * limit
    assert refusal_of_head(big_headers, limit).startswith(b'HTTP/1.1 431 ')
    assert refusal_of_head(b'GET / HTTP/1.1\r\n\x00', limit).startswith(b'HTTP/1.1 400 ')


def test_oversized_headers_are_431_json(host, upstream, logs):
    before = len(upstream.seen)
    # In one piece (h11 accepts it; the guard refuses it)…
    answer = exchange(port_of(host), b'GET /api/echo HTTP/1.1\r\n' + H + b'X-Big: ' + b'a' * 70_000 + b'\r\n\r\n')
    assert_json_error(answer, 431, 'headers_too_large')
    # …and trickled past h11's incomplete-head limit (the protocol refuses it).
    with socket.create_connection(('127.0.0.1', port_of(host)), timeout=10) as sock:
        sock.sendall(b'GET /api/echo HTTP/1.1\r\n' + H)
        out = b''
        # 20 KB in pieces, past the limit; the server may refuse and close before the last.
        for _ in range(20):
            try:
                sock.sendall(b'X-Pad: ' + b'b' * 1000 + b'\r\n')
            except OSError:
                break
            time.sleep(0.005)
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except OSError:
            pass  # a reset after the answer
    assert_json_error(parse(out), 431, 'headers_too_large')
    assert len(upstream.seen) == before
    assert 'Traceback' not in logs.text


def test_malformed_request_is_json_400(host, logs):
    answer = exchange(port_of(host), b'GARBAGE\r\n\r\n')
    assert_json_error(answer, 400, 'bad_request')
    assert 'Traceback' not in logs.text


class QuickHeadProtocol(GuardedH11Protocol):
    headers_timeout = 0.5


@pytest.fixture(scope='module')
def quick_head_host(upstream):
    server = ThreadedServer(build_application(host_config(upstream.url)), protocol=QuickHeadProtocol).start()
    yield server.url
    server.stop()


def test_half_sent_headers_never_time_out(quick_head_host, upstream):
    before = len(upstream.seen)
    start = time.monotonic()
    answer = exchange(
        port_of(quick_head_host), b'GET /api/echo HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n', timeout=10
    )
    assert_json_error(answer, 408, 'request_timeout')
    assert time.monotonic() - start < 8  # well before the socket timeout: the host cut it
    # A connection that never sends a byte is cut the same way.
    with socket.create_connection(('127.0.0.1', port_of(quick_head_host)), timeout=10) as sock:
        assert sock.recv(65536).startswith(b'HTTP/1.1 408')
    assert len(upstream.seen) == before
    # A normal request on the same host is unaffected.
    assert httpx.get(quick_head_host + '/api/echo').status_code == 200


class Stalled:
    """Raw connections that send a request head and part of its body, then nothing."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def open(
        self,
        port: int,
        path: str = '/api/login',
        *,
        forwarded_for: str | None = None,
        length: int = 100,
        sent: bytes = b'{"us',
    ):
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        xff = f'X-Forwarded-For: {forwarded_for}\r\n' if forwarded_for else ''
        sock.sendall(
            f'POST {path} HTTP/1.1\r\nHost: localhost\r\n{xff}'
            f'Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n'.encode()
            + sent
        )
        self.socks.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


@pytest.fixture
def stalled():
    s = Stalled()
    yield s
    s.close()


@pytest.fixture(scope='module')
def small_pool_host(upstream):
    config = host_config(upstream.url, max_connections=3, read_timeout=3.0, body_idle_timeout=30.0)
    server = ThreadedServer(build_application(config)).start()
    yield server.url
    server.stop()


def wait_until(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('condition not reached')
        time.sleep(0.02)


BIG = 10 * 1024 * 1024  # above SMALL_BODY_BYTES: streamed on its own relay connection


def test_stalled_bodies_starve_the_relay_pool(small_pool_host, upstream, stalled):
    before = len(upstream.seen)
    for _ in range(3):
        stalled.open(port_of(small_pool_host))  # small JSON bodies: read whole before forwarding
        stalled.open(port_of(small_pool_host), '/api/drain', length=BIG)  # streamed, bodies pending
    wait_until(lambda: len(upstream.seen) >= before + 3)  # the three large ones are at the relay
    r = httpx.get(small_pool_host + '/api/echo', timeout=10)
    assert r.status_code == 200
    assert len(upstream.seen) == before + 4  # the small stalled ones never reached it


@pytest.mark.usefixtures('upstream')
def test_early_relay_answer_not_passed_on(host):
    # 25 MiB + 1 announced, not a byte of body: the relay's 413 must come back at once.
    sock = socket.create_connection(('127.0.0.1', port_of(host)), timeout=10)
    try:
        sock.sendall(
            b'POST /api/refuse-early HTTP/1.1\r\n' + H + b'Content-Type: application/octet-stream\r\n'
            b'Content-Length: %d\r\n\r\n' % (25 * 1024 * 1024 + 1)
        )
        out = b''
        while chunk := sock.recv(65536):
            out += chunk
    finally:
        sock.close()
    status, headers, body = parse(out)
    assert status == 413
    assert json.loads(body)['message'] == 'early'
    assert headers['connection'] == 'close'  # the rest of the body is never read


@pytest.mark.usefixtures('upstream')
def test_early_relay_401_stops_the_upload(host):
    # The body is being sent when the relay refuses: the answer arrives, the upload stops.
    sock = socket.create_connection(('127.0.0.1', port_of(host)), timeout=10)
    out = b''
    try:
        sock.sendall(
            b'POST /api/refuse-early?unauthorized HTTP/1.1\r\n' + H + b'Content-Type: application/octet-stream\r\n'
            b'Content-Length: 10000000\r\n\r\n' + b'x' * 65536
        )
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            out += chunk
    finally:
        sock.close()
    assert parse(out)[0] == 401


@pytest.fixture(scope='module')
def idle_body_host(upstream):
    config = host_config(upstream.url, body_idle_timeout=0.5)
    server = ThreadedServer(build_application(config)).start()
    yield server.url
    server.stop()


def test_body_never_arrives_holds_upstream_forever(idle_body_host, upstream):
    # A small body is read whole before the relay is contacted: the relay never sees it.
    seen = len(upstream.seen)
    answer = exchange(
        port_of(idle_body_host),
        b'POST /api/drain HTTP/1.1\r\n' + H + b'Content-Length: 100\r\n\r\n{"partial',
        timeout=10,
    )
    assert_json_error(answer, 408, 'request_timeout')
    assert answer[1]['connection'] == 'close'
    assert len(upstream.seen) == seen
    # A large one is streamed: the relay's side of the exchange is released, not left waiting.
    before = upstream.body_disconnects
    answer = exchange(
        port_of(idle_body_host),
        b'POST /api/drain HTTP/1.1\r\n' + H + b'Content-Length: %d\r\n\r\n' % BIG + b'x' * 5000,
        timeout=10,
    )
    assert_json_error(answer, 408, 'request_timeout')
    assert answer[1]['connection'] == 'close'
    wait_until(lambda: upstream.body_disconnects > before)


@pytest.fixture(scope='module')
def capped_host(upstream):
    config = host_config(upstream.url, max_requests_per_client=2)
    server = ThreadedServer(build_application(config)).start()
    yield server.url
    server.stop()


def test_one_client_starves_the_others(capped_host, upstream, stalled):
    port = port_of(capped_host)
    before = len(upstream.seen)
    stalled.open(port, '/api/drain', forwarded_for='203.0.113.9', length=BIG)
    stalled.open(port, '/api/drain', forwarded_for='203.0.113.9', length=BIG)
    wait_until(lambda: len(upstream.seen) >= before + 2)
    third = httpx.get(capped_host + '/api/echo', headers={'X-Forwarded-For': '203.0.113.9'})
    assert third.status_code == 429
    assert third.json()['error'] == 'too_many_requests'
    other = httpx.get(capped_host + '/api/echo', headers={'X-Forwarded-For': '203.0.113.10'})
    assert other.status_code == 200
    # The slots come back when the stalled requests end.
    stalled.close()
    wait_until(
        lambda: httpx.get(capped_host + '/api/echo', headers={'X-Forwarded-For': '203.0.113.9'}).status_code == 200
    )


def test_an_ipv6_client_is_counted_by_its_64(capped_host, upstream, stalled):
    port = port_of(capped_host)
    before = len(upstream.seen)
    stalled.open(port, '/api/drain', forwarded_for='2001:db8:5:6::1', length=BIG)
    stalled.open(port, '/api/drain', forwarded_for='2001:db8:5:6::2', length=BIG)
    wait_until(lambda: len(upstream.seen) >= before + 2)
    # Another address of the same /64 is the same client.
    third = httpx.get(capped_host + '/api/echo', headers={'X-Forwarded-For': '2001:db8:5:6:ffff::3'})
    assert third.status_code == 429
    other = httpx.get(capped_host + '/api/echo', headers={'X-Forwarded-For': '2001:db8:5:7::1'})
    assert other.status_code == 200
    stalled.close()
    wait_until(
        lambda: httpx.get(capped_host + '/api/echo', headers={'X-Forwarded-For': '2001:db8:5:6::9'}).status_code == 200
    )


@pytest.fixture(scope='module')
def logging_host(upstream):
    """The host with uvicorn's access log on, as `npm start` and the container run it."""
    server = ThreadedServer(build_application(host_config(upstream.url)), log_level='info').start()
    yield server.url
    server.stop()


JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlX2J5dGVzX2hlcmVfMzJfYnl0ZXM'


def test_token_in_query_string_is_logged(logging_host, logs):
    r = httpx.get(logging_host + f'/api/echo?token={JWT}&code=492817&access_token={JWT}')
    assert r.status_code == 200
    wait_until(lambda: any('/api/echo' in line for line in logs.lines))
    access = [line for line in logs.lines if line.startswith('uvicorn.access')]
    assert access
    assert all('?' not in line for line in access)
    assert JWT not in logs.text
    assert '492817' not in logs.text


def test_forged_forwarded_for_writes_the_access_log(logging_host, upstream, logs):
    before = len(upstream.seen)
    forged = '6.6.6.6" 200 OK\nuvicorn.access INFO 1.2.3.4:1 - "GET /admin HTTP/1.1'
    r = httpx.get(logging_host + '/api/echo', headers={'X-Forwarded-For': forged.replace('\n', ' ')})
    assert r.status_code == 400
    assert r.json()['error'] == 'bad_forwarded_for'
    assert len(upstream.seen) == before
    wait_until(lambda: any(line.startswith('uvicorn.access') for line in logs.lines))
    assert '6.6.6.6' not in logs.text
    assert '/admin' not in logs.text


def test_hostile_run_leaves_the_host_serving(host):
    assert httpx.get(host + '/api/echo').status_code == 200
    assert httpx.get(host + '/').status_code == 200
    assert threading.active_count() > 0
