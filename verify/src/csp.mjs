// @ts-check
// The CSP the app expects is the one django-host sends (django-host/host/headers.py, the single
// definition, each directive with its reason). The release manifest records it as default_csp.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '../..');

/** @returns {Promise<string>} */
export async function hostContentSecurityPolicy() {
  // scripts/python-env.mjs creates/updates django-host/.venv (loaded by URL: it is untyped JS).
  /** @type {{ ensurePythonEnv(o: { log(m: string): void }): string }} */
  const pythonEnv = await import(pathToFileURL(join(root, 'scripts/python-env.mjs')).href);
  const python = pythonEnv.ensurePythonEnv({ log: () => {} });
  const r = spawnSync(
    python,
    ['-c', 'from host.headers import CONTENT_SECURITY_POLICY as p; print(p, end="")'],
    {
      cwd: join(root, 'django-host'),
      encoding: 'utf8',
    },
  );
  if (r.status !== 0 || !r.stdout) throw new Error(`could not read the host's CSP: ${r.stderr}`);
  return r.stdout;
}
