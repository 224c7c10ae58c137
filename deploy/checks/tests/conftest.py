"""The compose suite: static checks of compose.yml, the Dockerfiles, the Caddyfile and
.env.example (no Docker engine here), plus the checks' own tests on broken examples."""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# The Compose Specification's JSON schema, kept in the repository (schemas/README.md).
SCHEMA = ROOT / 'deploy' / 'checks' / 'schemas' / 'compose-spec.json'


@pytest.fixture(scope='session')
def root() -> Path:
    return ROOT


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
