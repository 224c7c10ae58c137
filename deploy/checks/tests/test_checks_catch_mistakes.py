"""The checks themselves, on broken examples: each rule must be able to fail."""

from pathlib import Path

import compose_checks as cc


def test_secret_defaults_are_caught():
    text = 'a: ${JWT_SECRET:-changeme}\nb: ${DB_PASSWORD-x}\nc: ${LOG_LEVEL:-info}\nd: ${API_TOKEN:?required}'
    problems = cc.secret_defaults(text)
    assert len(problems) == 2
    assert 'JWT_SECRET' in problems[0]
    assert 'DB_PASSWORD' in problems[1]


def test_optional_secret_interpolation_is_caught():
    assert cc.unrequired_secrets('x: ${TOTP_ENCRYPTION_KEY}') != []
    assert cc.unrequired_secrets('x: ${TOTP_ENCRYPTION_KEY:?set it}') == []


def test_literal_secrets_are_caught():
    compose = {
        'services': {
            'a': {'environment': {'JWT_SECRET': 'hunter2', 'DATABASE_URL': 'postgres://u:pw@db/x'}},
            'b': {'environment': ['POSTGRES_PASSWORD=${POSTGRES_PASSWORD:?x}', 'URL=postgres://u:${P:?x}@db/x']},
        }
    }
    problems = cc.literal_secrets(compose)
    assert problems == ['a: JWT_SECRET has a literal value', 'a: DATABASE_URL embeds a literal password in a URL']


def test_unpinned_images_are_caught():
    for image in ('postgres', 'postgres:latest', 'caddy:${TAG}', 'library/caddy:alpine'):
        assert not cc.image_pinned(image), image
    for image in ('postgres:18.1-bookworm', 'caddy:2.10.2-alpine', 'x@sha256:' + 'a' * 64):
        assert cc.image_pinned(image), image
    assert cc.service_images({'services': {'db': {'image': 'postgres'}, 'x': {}}}) == [
        "db: image 'postgres' is not pinned to a version tag or digest",
        'x: neither image nor build',
    ]


def test_missing_healthchecks_and_unhealthy_dependencies_are_caught(tmp_path):
    compose = {
        'services': {
            'a': {'image': 'x:1'},
            'b': {'image': 'y:1', 'healthcheck': {'disable': True}, 'depends_on': ['a']},
        }
    }
    assert cc.healthchecks(compose, tmp_path) == ['a: no healthcheck', 'b: no healthcheck']
    assert cc.healthy_dependencies(compose) == ['b: depends_on a without condition: service_healthy']


def test_dockerfile_healthcheck_counts(tmp_path):
    (tmp_path / 'Dockerfile').write_text('FROM x:1\nHEALTHCHECK CMD true\n')
    assert cc.healthchecks({'services': {'a': {'build': '.'}}}, tmp_path) == []


def _context(tmp_path: Path, dockerfile: str, ignore: str | None = None) -> Path:
    (tmp_path / 'src').mkdir()
    (tmp_path / 'src' / 'app.ts').write_text('x')
    (tmp_path / 'package.json').write_text('{}')
    (tmp_path / 'secret.env').write_text('x')
    (tmp_path / 'Dockerfile').write_text(dockerfile)
    if ignore is not None:
        (tmp_path / 'Dockerfile.dockerignore').write_text(ignore)
    return tmp_path / 'Dockerfile'


def test_missing_copy_source_is_caught(tmp_path):
    dockerfile = _context(
        tmp_path, 'FROM node:24.11.1-bookworm-slim AS b\nCOPY package.json missing.txt ./\nCOPY --from=b /x /y\n'
    )
    assert cc.copy_problems(dockerfile, tmp_path) == [
        'Dockerfile:2: COPY source missing.txt does not exist in the context'
    ]


def test_copy_source_excluded_by_dockerignore_is_caught(tmp_path):
    dockerfile = _context(
        tmp_path, 'FROM x:1\nCOPY package.json ./\nCOPY secret.env ./\nCOPY src src\n', '**\n!package.json\n'
    )
    assert cc.copy_problems(dockerfile, tmp_path) == [
        'Dockerfile:3: COPY source secret.env is excluded by .dockerignore',
        'Dockerfile:4: every file under src is excluded by .dockerignore',
    ]


def test_dockerignore_semantics():
    ignore = cc.DockerIgnore('**\n!pwa/**\npwa/node_modules\n!relay/src/**\n# comment\n')
    assert ignore.excluded('.env')
    assert not ignore.excluded('pwa/src/main.tsx')
    assert ignore.excluded('pwa/node_modules/react/index.js')
    assert not ignore.excluded('relay/src/server.ts')
    assert ignore.excluded('relay/dist/server.js')
    assert cc.DockerIgnore('*.md\n').excluded('README.md')
    assert not cc.DockerIgnore('*.md\n').excluded('docs/README.md')
    assert cc.DockerIgnore('**/*.md\n').excluded('docs/README.md')


def test_continuations_comments_and_exec_form_are_parsed():
    instructions = cc.parse_dockerfile('FROM a:1\n# c\nCOPY ["x y", \\\n  "dest/"]\nRUN a \\\n  # inner\n  && b\n')
    assert [i.keyword for i in instructions] == ['FROM', 'COPY', 'RUN']
    assert cc.copy_sources(instructions[1]) == ['x y']
    assert instructions[2].args.split() == ['a', '&&', 'b']


def test_unpinned_base_and_root_user_are_caught(tmp_path):
    dockerfile = tmp_path / 'Dockerfile'
    dockerfile.write_text('ARG IMG=node:latest\nFROM ${IMG} AS build\nFROM build\nFROM python\n')
    assert cc.base_images(dockerfile) == [
        "Dockerfile:2: base image 'node:latest' is not pinned",
        "Dockerfile:4: base image 'python' is not pinned",
    ]
    assert cc.runs_as_non_root(dockerfile) != []
    dockerfile.write_text('FROM x:1\nUSER app\n')
    assert cc.runs_as_non_root(dockerfile) == []


def test_env_example_coverage_is_checked():
    problems = cc.env_example_coverage('a: ${A:?x}\nb: ${B:-1}', 'A=\n# C=3\n')
    assert problems == [
        'B is used by compose.yml but not documented in .env.example',
        'C is in .env.example but compose.yml never uses it',
    ]


API_SITE = """{$SECURE_DROP_DOMAIN} {
	@api path /api /api/*
	handle @api {
		uri strip_prefix /api
		header {
			defer
			X-Frame-Options DENY
			Content-Security-Policy "default-src 'none'"
			-X-Powered-By
			-Server
		}
		reverse_proxy relay:3000
	}
	handle {
		reverse_proxy django-host:8000
	}
	handle_errors {
		@api_error path /api /api/*
		handle @api_error {
			header {
				defer
				X-Frame-Options DENY
				Content-Security-Policy "default-src 'none'"
				-X-Powered-By
				-Server
			}
			respond `{"error":"x","message":"y"}` 502
		}
	}
}
"""
API_HEADERS = {'X-Frame-Options': 'DENY', 'Content-Security-Policy': "default-src 'none'"}


def test_a_correct_api_route_passes():
    config = cc.adapt_caddyfile(API_SITE)
    assert cc.api_route_problems(config) == []
    assert cc.api_header_problems(config, API_HEADERS) == []
    assert cc.api_error_problems(config) == []


def test_api_routing_mistakes_are_caught():
    everything_to_host = cc.adapt_caddyfile('{$SECURE_DROP_DOMAIN} {\n\treverse_proxy django-host:8000\n}\n')
    assert cc.api_route_problems(everything_to_host) == [
        "/api is proxied to ['django-host:8000'], not only to relay:3000",
        '/api is not stripped from the path before the relay',
    ]
    unstripped = cc.adapt_caddyfile(API_SITE.replace('\t\turi strip_prefix /api\n', ''))
    assert cc.api_route_problems(unstripped) == ['/api is not stripped from the path before the relay']
    app_to_relay = cc.adapt_caddyfile(API_SITE.replace('reverse_proxy django-host:8000', 'reverse_proxy relay:3000'))
    assert cc.api_route_problems(app_to_relay) == ["the app is proxied to ['relay:3000'], not only to django-host:8000"]


def test_api_header_mistakes_are_caught():
    other_value = cc.adapt_caddyfile(API_SITE.replace('X-Frame-Options DENY', 'X-Frame-Options SAMEORIGIN', 1))
    assert len(cc.api_header_problems(other_value, API_HEADERS)) == 1
    not_deferred = cc.adapt_caddyfile(
        API_SITE.replace('\t\t\tdefer\n\t\t\tX', '\t\t\tX', 1).replace(
            '\t\t\t-X-Powered-By\n\t\t\t-Server\n\t\t}\n\t\treverse', '\t\t}\n\t\treverse'
        )
    )
    assert cc.api_header_problems(not_deferred, API_HEADERS) == [
        '/api answers: headers are not deferred, so the relay could add its own',
        '/api answers: X-Powered-By and Server are not removed',
    ]
    no_error_headers = cc.adapt_caddyfile(
        API_SITE.rsplit('\t\t\theader {', 1)[0] + '\t\t\trespond `{"error":"x","message":"y"}` 502\n\t\t}\n\t}\n}\n'
    )
    assert cc.api_header_problems(no_error_headers, API_HEADERS) == [
        '/api errors: 0 security header sets, expected one'
    ]


def test_plain_text_api_errors_are_caught():
    plain = cc.adapt_caddyfile(API_SITE.replace('`{"error":"x","message":"y"}`', '"bad gateway"'))
    assert cc.api_error_problems(plain) == ['Caddy answers /api errors without the JSON error body']
