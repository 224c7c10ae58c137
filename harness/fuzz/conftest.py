"""Schema fuzzing (RELIABILITY.md): one real relay (embedded PostgreSQL) and one real Django host
in front of it for the whole run, and real accounts made through the API (TOTP codes computed
here, as an authenticator app would)."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import pyotp
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import Host, Relay

# Limits raised so that the fuzzer measures validation, not the rate limiter (429s stay
# documented answers and are accepted when they come).
RELAY_ENV = {
    'REGISTER_IP_PER_HOUR': '10000',
    'SEND_RATE_BURST': '10000',
    'SEND_RATE_PER_SECOND': '1000',
    'PREKEY_FETCH_BURST': '1000',
    'PREKEY_FETCH_PER_MINUTE': '6000',
    'IDENTITY_LOOKUP_BURST': '10000',
    'IDENTITY_LOOKUP_PER_MINUTE': '60000',
    'LOGIN_IP_MAX_FAILURES': '500',
}


@pytest.fixture(scope='session')
def servers():
    relay = Relay(RELAY_ENV)
    host = None
    try:
        host = Host(relay.url)
        yield {'relay': relay, 'host': host}
    finally:
        if host:
            host.stop()
        relay.stop()


class Accounts:
    """Active accounts registered through the relay (register, then confirm with the TOTP code)."""

    def __init__(self, relay_url: str):
        self.relay_url = relay_url
        self.http = requests.Session()
        self.users = [self.register() for _ in range(3)]

    def register(self) -> dict:
        name = f'fz{secrets.token_hex(5)}'
        r = self.http.post(f'{self.relay_url}/register', json={'username': name}, timeout=30)
        assert r.status_code == 201, r.text
        secret = r.json()['secret']
        code = pyotp.TOTP(secret).now()
        c = self.http.post(f'{self.relay_url}/register/confirm', json={'username': name, 'code': code}, timeout=30)
        assert c.status_code == 201, c.text
        body = c.json()
        return {'username': name, 'access': body['access_token'], 'refresh': body['refresh_token']}


@pytest.fixture(scope='session')
def accounts(servers):
    return Accounts(servers['relay'].url)


def pytest_terminal_summary(terminalreporter):
    """Counts for `npm test` (scripts/test.mjs reads {passed, failed, skipped} from SD_TEST_REPORT)."""
    target = os.environ.get('SD_TEST_REPORT')
    if not target:
        return
    stats = terminalreporter.stats
    report = {
        'passed': len(stats.get('passed', [])),
        'failed': len(stats.get('failed', [])) + len(stats.get('error', [])),
        'skipped': len(stats.get('skipped', [])),
    }
    if sum(report.values()) == 0:
        report['failed'] = 1  # no test ran: never a green suite
    Path(target).write_text(json.dumps(report))
