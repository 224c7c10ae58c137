"""The /api WebSocket forward against a real upstream WebSocket server."""

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin, Subprotocol


def ws_url(http_url: str, path: str) -> str:
    return http_url.replace('http://', 'ws://') + path


def test_frames_pass_both_ways(host):
    with connect(ws_url(host, '/api/ws'), origin=Origin('http://localhost:8000'), open_timeout=5) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello['path'] == '/ws'
        assert hello['origin'] == 'http://localhost:8000'
        assert hello['x-forwarded-for'] == ['127.0.0.1']
        ws.send('привет 👋')
        assert ws.recv(timeout=5) == 'привет 👋'
        ws.send(b'\x00\x01\xff')
        assert ws.recv(timeout=5) == b'\x00\x01\xff'


def test_subprotocol_is_negotiated_end_to_end(host):
    with connect(ws_url(host, '/api/ws'), subprotocols=[Subprotocol('secure-drop.v1')], open_timeout=5) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello['subprotocols'] == ['secure-drop.v1']
        assert ws.subprotocol == 'secure-drop.v1'


def test_large_frame_passes(host):
    payload = bytes(range(256)) * 2048  # 512 KiB, under the 1 MiB default limit
    with connect(ws_url(host, '/api/ws'), open_timeout=5, max_size=None) as ws:
        ws.recv(timeout=5)
        ws.send(payload)
        assert ws.recv(timeout=5) == payload


def test_relay_close_code_and_reason_reach_the_browser(host):
    with connect(ws_url(host, '/api/ws'), open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.send('close:4001:session revoked')
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4001
        assert ws.close_reason == 'session revoked'


def test_browser_close_code_reaches_the_relay(host, upstream):
    upstream.ws_closed.clear()
    before = len(upstream.ws_client_closes)
    with connect(ws_url(host, '/api/ws'), open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.close(4002, 'logging out')
    assert upstream.ws_closed.wait(10)
    assert upstream.ws_client_closes[before:] == [(4002, 'logging out')]


def test_relay_vanishing_without_close_frame_is_bad_gateway(host):
    # The upstream handler crashes and its server drops the connection (1006, which may never
    # be sent in a frame): the browser gets 1014 "bad gateway" and reconnects later.
    with connect(ws_url(host, '/api/ws'), open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.send('crash')
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1014


def test_relay_refusal_status_reaches_the_browser(host):
    with pytest.raises(InvalidStatus) as caught:
        connect(ws_url(host, '/api/ws-deny'), open_timeout=5)
    assert caught.value.response.status_code == 403


def test_relay_down_is_502(orphan_host):
    with pytest.raises(InvalidStatus) as caught:
        connect(ws_url(orphan_host, '/api/ws'), open_timeout=5)
    response = caught.value.response
    assert response.status_code == 502
    assert json.loads(response.body)['error'] == 'bad_gateway'
