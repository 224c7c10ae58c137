"""The /api HTTP forward against a real upstream server: mapping, headers, streaming, failures."""

import hashlib
import threading
import tracemalloc

import httpx
import pytest

from tests.upstream import CHUNK, pattern

MiB = 1 << 20
PHOTO = 25 * MiB


def test_prefix_is_stripped_and_query_kept(host):
    seen = httpx.get(host + '/api/get_photo/42?cursor=a%2Fb&limit=5').json()
    assert seen['path'] == '/get_photo/42'
    assert seen['query'] == 'cursor=a%2Fb&limit=5'


def test_bare_api_maps_to_relay_root(host):
    assert httpx.get(host + '/api').json()['path'] == '/'


def test_encoded_path_is_passed_verbatim(host):
    assert httpx.get(host + '/api/users/a%2Fb').json()['raw_path'] == '/users/a%2Fb'


def test_network_path_never_leaves_the_relay(host):
    # "//other-host/x" after the prefix must stay a path on the relay, never a new authority.
    seen = httpx.get(host + '/api//example.invalid/x?y=1').json()
    assert seen['raw_path'] == '//example.invalid/x'
    assert seen['query'] == 'y=1'


def test_encoded_prefix_is_still_forwarded(host):
    assert httpx.get(host + '/%61pi/echo').json()['path'] == '/echo'


def test_method_body_and_end_to_end_headers_pass(host):
    body = b'{"username":"alice"}'
    seen = httpx.post(
        host + '/api/register',
        content=body,
        headers={'Content-Type': 'application/json', 'Authorization': 'Bearer t0ken', 'Origin': 'http://localhost'},
    ).json()
    assert seen['method'] == 'POST'
    assert seen['bytes'] == len(body)
    assert seen['sha256'] == hashlib.sha256(body).hexdigest()
    assert seen['headers']['authorization'] == ['Bearer t0ken']
    assert seen['headers']['content-type'] == ['application/json']
    assert seen['headers']['origin'] == ['http://localhost']


def test_host_and_forwarded_headers(host):
    port = host.rsplit(':', 1)[1]
    seen = httpx.get(host + '/api/echo', headers={'Host': f'localhost:{port}'}).json()['headers']
    assert seen['host'] == [f'localhost:{port}']
    assert seen['x-forwarded-host'] == [f'localhost:{port}']
    assert seen['x-forwarded-proto'] == ['http']
    assert seen['x-forwarded-for'] == ['127.0.0.1']


def test_trusted_proxy_address_is_passed_as_a_single_value(host):
    # uvicorn trusts loopback (--forwarded-allow-ips) and resolves the client; the relay gets
    # exactly that address, never a client-controlled chain.
    seen = httpx.get(host + '/api/echo', headers={'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https'})
    headers = seen.json()['headers']
    assert headers['x-forwarded-for'] == ['203.0.113.7']
    assert headers['x-forwarded-proto'] == ['https']


def test_spoofed_forwarded_headers_are_replaced(untrusting_host):
    headers = httpx.get(
        untrusting_host + '/api/echo',
        headers={
            'X-Forwarded-For': '6.6.6.6',
            'X-Real-IP': '6.6.6.6',
            'Forwarded': 'for=6.6.6.6',
            'X-Forwarded-Proto': 'https',
        },
    ).json()['headers']
    assert headers['x-forwarded-for'] == ['127.0.0.1']
    assert headers['x-forwarded-proto'] == ['http']
    assert 'x-real-ip' not in headers
    assert 'forwarded' not in headers


def test_hop_by_hop_request_headers_are_stripped(host):
    headers = httpx.get(
        host + '/api/echo',
        headers={
            'Connection': 'keep-alive, x-hop',
            'X-Hop': 'secret',
            'Proxy-Authorization': 'Basic x',
            'X-Kept': 'yes',
        },
    ).json()['headers']
    assert 'x-hop' not in headers
    assert 'proxy-authorization' not in headers
    assert headers['x-kept'] == ['yes']


def test_hop_by_hop_response_headers_are_stripped(host):
    r = httpx.get(host + '/api/noisy-headers')
    assert 'x-hop-secret' not in r.headers
    assert 'keep-alive' not in r.headers
    assert r.headers['x-end-to-end'] == 'kept'
    assert len(r.headers.get_list('date')) == 1


def test_relay_status_and_error_body_pass_through(host):
    r = httpx.get(host + '/api/status/418')
    assert r.status_code == 418
    assert r.json()['error'] == 'teapot'


def test_redirects_are_not_followed_by_the_host(host):
    r = httpx.get(host + '/api/redirect')
    assert r.status_code == 302
    assert r.headers['location'] == '/elsewhere'


def test_25_mib_upload_streams_through(host, upstream):
    """The relay receives bytes while the browser is still sending, and memory stays flat."""
    upstream.upload_started.clear()
    chunks = PHOTO // len(CHUNK)
    gate_failed = threading.Event()

    def body():
        for i in range(chunks):
            if i == chunks // 2 and not upstream.upload_started.wait(30):
                # A buffering forward would not have passed anything on yet.
                gate_failed.set()
                raise AssertionError('relay saw no byte while half the upload was sent')
            yield CHUNK

    tracemalloc.start()
    try:
        r = httpx.post(
            host + '/api/upload',
            content=body(),
            headers={'Content-Length': str(PHOTO), 'Content-Type': 'application/octet-stream'},
            timeout=60,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not gate_failed.is_set()
    assert r.status_code == 201
    result = r.json()
    assert result['bytes'] == PHOTO
    assert result['sha256'] == hashlib.sha256(CHUNK * chunks).hexdigest()
    assert result['chunks'] > 1
    # Client, host and upstream share this process: a buffered 25 MiB body would show here.
    assert peak < 8 * MiB, f'peak traced memory {peak / MiB:.1f} MiB'


def test_chunked_upload_without_length_streams_through(host):
    def body():
        yield from (CHUNK for _ in range(16))

    r = httpx.post(host + '/api/upload', content=body(), timeout=30)
    assert r.json()['bytes'] == 16 * len(CHUNK)


def test_25_mib_download_streams_through(host, upstream):
    upstream.download_first_chunk_seen.clear()
    expected = hashlib.sha256()
    for piece in pattern(PHOTO):
        expected.update(piece)
    digest = hashlib.sha256()
    size = 0
    with httpx.stream('GET', host + f'/api/download?size={PHOTO}', timeout=60) as r:
        assert r.status_code == 200
        assert r.headers['content-length'] == str(PHOTO)
        for chunk in r.iter_raw():
            # The upstream sends the rest only after this: proof the first chunk was not held back.
            upstream.download_first_chunk_seen.set()
            digest.update(chunk)
            size += len(chunk)
    assert size == PHOTO
    assert digest.hexdigest() == expected.hexdigest()


def test_relay_down_is_502_json(orphan_host):
    r = httpx.get(orphan_host + '/api/login')
    assert r.status_code == 502
    assert r.json()['error'] == 'bad_gateway'
    assert r.headers['content-type'] == 'application/json'
    assert r.headers['cache-control'] == 'no-store'
    assert r.headers['x-content-type-options'] == 'nosniff'


def test_relay_down_with_a_body_is_502(orphan_host):
    r = httpx.post(orphan_host + '/api/send_message', content=b'{"to":"bob"}')
    assert r.status_code == 502


def test_slow_relay_is_504_json(impatient_host):
    r = httpx.get(impatient_host + '/api/slow', timeout=10)
    assert r.status_code == 504
    assert r.json()['error'] == 'gateway_timeout'


def test_relay_dying_mid_body_cuts_the_client_connection(host):
    # The status line already went out; the client must see a broken body, never a short
    # response that looks complete.
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(host + '/api/truncated', timeout=10)


def test_host_keeps_serving_after_a_broken_relay_response(host):
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(host + '/api/truncated', timeout=10)
    assert httpx.get(host + '/api/echo').status_code == 200
    assert httpx.get(host + '/').status_code == 200
