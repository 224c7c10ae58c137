// The real Django host (uvicorn, django-host/.venv) in front of a test relay: started as a child
// process with the protocol class and flags `npm start` uses, its whole output kept for log checks.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hostServerArgs } from '../../../scripts/lib/host-server.mjs';

const root = resolve(import.meta.dirname, '..', '..', '..');

export interface RunningHost {
  url: string;
  port: number;
  /** Everything the host wrote to stdout and stderr so far (uvicorn's access log included). */
  output(): string;
  stop(): Promise<void>;
}

async function venvPython(): Promise<string> {
  // scripts/python-env.mjs creates or updates django-host/.venv (fast when it is current).
  const mod = (await import(join(root, 'scripts', 'python-env.mjs'))) as {
    ensurePythonEnv(opts: { dev?: boolean; log?: (s: string) => void }): string;
  };
  return mod.ensurePythonEnv({ dev: false, log: () => undefined });
}

export async function startHost(relayUrl: string, env: Record<string, string> = {}): Promise<RunningHost> {
  const python = await venvPython();
  const dist = mkdtempSync(join(tmpdir(), 'sd-host-dist-'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>fixture</title>');
  const child: ChildProcess = spawn(python, hostServerArgs({ host: '127.0.0.1', port: 0 }), {
    cwd: join(root, 'django-host'),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SECURE_DROP_RELAY_URL: relayUrl,
      SECURE_DROP_PWA_DIST: dist,
      PYTHONUNBUFFERED: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`host exited before listening:\n${out}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dist, { recursive: true, force: true });
    },
  };
}
