"""Configuration parsing: defaults, relative paths, and refusals with the variable's name."""

import pytest

from host.config import DEFAULT_RELAY_URL, HOST_DIR, ConfigError, load_config


def test_defaults():
    config = load_config({})
    assert config.pwa_dist == (HOST_DIR.parent / 'pwa' / 'dist').resolve()
    assert config.relay_url == DEFAULT_RELAY_URL
    assert config.relay_ws_url == 'ws://127.0.0.1:3000'
    assert config.allowed_hosts == ('localhost', '127.0.0.1', '[::1]')
    assert len(config.secret_key) >= 50
    assert (config.body_idle_timeout, config.body_timeout) == (30.0, 3600.0)
    assert (config.max_requests_per_client, config.max_connections) == (32, 200)


def test_limits_from_the_environment():
    config = load_config(
        {
            'SECURE_DROP_BODY_IDLE_TIMEOUT': '5',
            'SECURE_DROP_BODY_TIMEOUT': '120',
            'SECURE_DROP_MAX_REQUESTS_PER_CLIENT': '4',
            'SECURE_DROP_PROXY_MAX_CONNECTIONS': '10',
        }
    )
    assert (config.body_idle_timeout, config.body_timeout) == (5.0, 120.0)
    assert (config.max_requests_per_client, config.max_connections) == (4, 10)


def test_relative_dist_is_relative_to_django_host():
    assert load_config({'SECURE_DROP_PWA_DIST': '../pwa/dist'}).pwa_dist == (HOST_DIR.parent / 'pwa' / 'dist').resolve()


def test_https_relay_maps_to_wss():
    config = load_config({'SECURE_DROP_RELAY_URL': 'https://relay.internal:8443/'})
    assert config.relay_url == 'https://relay.internal:8443'
    assert config.relay_ws_url == 'wss://relay.internal:8443'


def test_allowed_hosts_list():
    config = load_config({'SECURE_DROP_ALLOWED_HOSTS': 'chat.example.org, localhost'})
    assert config.allowed_hosts == ('chat.example.org', 'localhost')


@pytest.mark.parametrize(
    ('env', 'variable'),
    [
        ({'SECURE_DROP_RELAY_URL': 'ftp://x'}, 'SECURE_DROP_RELAY_URL'),
        ({'SECURE_DROP_RELAY_URL': 'http://x/?a=1'}, 'SECURE_DROP_RELAY_URL'),
        ({'SECURE_DROP_PROXY_READ_TIMEOUT': 'soon'}, 'SECURE_DROP_PROXY_READ_TIMEOUT'),
        ({'SECURE_DROP_PROXY_CONNECT_TIMEOUT': '0'}, 'SECURE_DROP_PROXY_CONNECT_TIMEOUT'),
        ({'SECURE_DROP_WS_MAX_BYTES': '-1'}, 'SECURE_DROP_WS_MAX_BYTES'),
        ({'SECURE_DROP_ALLOWED_HOSTS': '*'}, 'SECURE_DROP_ALLOWED_HOSTS'),
        ({'SECURE_DROP_HEADERS_TIMEOUT': '0'}, 'SECURE_DROP_HEADERS_TIMEOUT'),
        ({'SECURE_DROP_BODY_IDLE_TIMEOUT': 'never'}, 'SECURE_DROP_BODY_IDLE_TIMEOUT'),
        ({'SECURE_DROP_BODY_TIMEOUT': '-5'}, 'SECURE_DROP_BODY_TIMEOUT'),
        ({'SECURE_DROP_MAX_REQUESTS_PER_CLIENT': '0'}, 'SECURE_DROP_MAX_REQUESTS_PER_CLIENT'),
        ({'SECURE_DROP_PROXY_MAX_CONNECTIONS': 'many'}, 'SECURE_DROP_PROXY_MAX_CONNECTIONS'),
        ({'SECURE_DROP_RUN_ID': 'not-hex'}, 'SECURE_DROP_RUN_ID'),
    ],
)
def test_bad_values_are_refused_by_name(env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_config(env)


def test_secret_key_is_random_per_process_unless_given():
    assert load_config({}).secret_key != load_config({}).secret_key
    assert load_config({'DJANGO_SECRET_KEY': 'k' * 60}).secret_key == 'k' * 60


def test_django_system_checks_pass():
    from django.core.management import call_command

    call_command('check', fail_level='WARNING')
