"""Subresource Integrity survives serving: every script and stylesheet the shell loads carries an
integrity hash, and the bytes the host sends for it match (a host that rewrote, compressed or
substituted an asset would make the browser refuse it — SECURITY.md "Checking the code your
server sends")."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

import httpx
import pytest


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'script' or (tag == 'link' and a.get('rel') in ('stylesheet', 'modulepreload')):
            self.loads.append({'tag': tag, **a})


def loads_of(html: str) -> list[dict[str, str | None]]:
    parser = _Loads()
    parser.feed(html)
    return parser.loads


def matches(integrity: str, data: bytes) -> bool:
    algorithm, _, expected = integrity.partition('-')
    assert algorithm in ('sha256', 'sha384', 'sha512'), integrity
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == expected


@pytest.mark.parametrize('path', ['/', '/chats/alice', '/index.html'])
def test_every_script_and_stylesheet_the_shell_loads_has_matching_sri(host, path):
    loads = loads_of(httpx.get(host + path).text)
    assert {entry['tag'] for entry in loads} == {'script', 'link'}
    for entry in loads:
        url = entry.get('src') or entry.get('href')
        assert url, entry
        assert url.startswith('/'), entry  # this origin only, never inline
        integrity = entry.get('integrity')
        assert integrity, f'{url} has no integrity attribute'
        assert 'crossorigin' in entry, f'{url}: SRI on a module needs CORS mode'
        assert matches(integrity, httpx.get(host + url).content), f'{url} is not served as built'


def test_sri_check_catches_a_changed_byte():
    # The check above can fail: one byte changed is a mismatch.
    data = b'console.log(1)\n'
    integrity = 'sha384-' + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert matches(integrity, data)
    assert not matches(integrity, data.replace(b'1', b'2'))


def test_shell_without_sri_would_be_caught():
    loads = loads_of('<script type="module" src="/assets/a.js"></script><link rel="stylesheet" href="/b.css">')
    assert [entry.get('integrity') for entry in loads] == [None, None]
