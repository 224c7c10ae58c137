#!/usr/bin/env node
// @ts-check
// npm run release:sign — writes pwa/dist/release.json, the signed release manifest of the built
// app (verify/README.md "Releasing"). The release secret key comes from the environment
// (SECURE_DROP_RELEASE_KEY, base64url 32-byte seed) or a file (SECURE_DROP_RELEASE_KEY_FILE);
// it is never read from, or written into, the repository.
// npm run release:keygen -- --out <file outside the repository> — makes a new key pair.
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkoutState, repoRoot } from '../src/build.mjs';
import { hostContentSecurityPolicy } from '../src/csp.mjs';
import { publishedKeys } from '../src/keys.mjs';
import {
  createManifest,
  generateReleaseKey,
  publicKeyOf,
  RELEASE_FILE,
  signRelease,
} from '../src/release.mjs';

/** @param {string} path */
function insideRepository(path) {
  const abs = resolve(path);
  const real = existsSync(abs) ? realpathSync(abs) : join(realpathSync(dirname(abs)), basename(abs));
  const rel = relative(realpathSync(repoRoot), real);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function readSecret() {
  const inline = process.env.SECURE_DROP_RELEASE_KEY;
  const file = process.env.SECURE_DROP_RELEASE_KEY_FILE;
  if (inline) return inline.trim();
  if (file) {
    if (insideRepository(file)) throw new Error('the release key file must not be inside the repository');
    return readFileSync(file, 'utf8').trim();
  }
  throw new Error('set SECURE_DROP_RELEASE_KEY or SECURE_DROP_RELEASE_KEY_FILE (the release secret key)');
}

async function main() {
  const { values } = parseArgs({
    options: {
      keygen: { type: 'boolean', default: false },
      out: { type: 'string' },
      dist: { type: 'string', default: join(repoRoot, 'pwa/dist') },
      app: { type: 'string' },
      csp: { type: 'string' },
      'allow-dirty': { type: 'boolean', default: false },
      'unpublished-key': { type: 'boolean', default: false },
    },
  });
  if (values.keygen) {
    if (!values.out) throw new Error('--keygen needs --out <file outside the repository>');
    if (insideRepository(values.out))
      throw new Error('the secret key must not be written inside the repository');
    const { secretKey, publicKey } = generateReleaseKey();
    writeFileSync(values.out, `${secretKey}\n`, { mode: 0o600, flag: 'wx' });
    console.log(`secret key written to ${values.out} (keep it offline)\npublic key: ${publicKey}`);
    console.log('publish it: add it to verify/release-key.pub and the README.');
    return;
  }
  const secret = readSecret();
  const publicKey = publicKeyOf(secret);
  if (!values['unpublished-key'] && !publishedKeys().includes(publicKey))
    throw new Error(`the key ${publicKey} is not in verify/release-key.pub; publish it first`);
  const { commit, dirty } = checkoutState();
  if (dirty && !values['allow-dirty'])
    throw new Error('the checkout has uncommitted changes: a release must be built from a clean commit');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'pwa/package.json'), 'utf8'));
  const rootPkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const manifest = createManifest({
    dist: values.dist,
    app: values.app ?? rootPkg.homepage ?? 'secure-drop',
    version: pkg.version,
    commit,
    csp: values.csp ?? (await hostContentSecurityPolicy()),
  });
  const signed = signRelease(manifest, secret);
  writeFileSync(join(values.dist, RELEASE_FILE), `${JSON.stringify(signed, null, 2)}\n`);
  console.log(
    `signed ${Object.keys(manifest.files).length} files of version ${manifest.version} (${commit})`,
  );
  console.log(
    `build hash: ${manifest.build_hash}\nsigned by:  ${publicKey}\nwritten to: ${join(values.dist, RELEASE_FILE)}`,
  );
}

try {
  await main();
} catch (err) {
  console.error(`✗ ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
