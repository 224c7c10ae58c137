// @ts-check
// The signed release manifest (verify/README.md): every file of a PWA build with its SHA-256,
// the CSP the app expects, the version and commit, signed with the release key (Ed25519,
// RFC 8032, through @noble/curves; strict verification, no ZIP-215 leniency).
//
// Shape follows WEBCAT's manifest (freedomofpress/webcat docs "Manifest" §1.1): `app`,
// `version`, `default_csp`, `files` (absolute path → base64url SHA-256), `default_index`,
// `default_fallback`, `wasm`; the signature is over the canonicalized `manifest` object
// (RFC 8785 JSON Canonicalization Scheme). Two fields are ours: `commit` and `build_hash`.
// WEBCAT's `signatures` hold Sigsum proofs or Sigstore bundles; ours map the base64url
// Ed25519 public key to a base64url Ed25519 signature.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import canonicalizeModule from 'canonicalize';

// canonicalize is CommonJS (module.exports = the function) with an ESM-style .d.ts.
const canonicalize = /** @type {(input: unknown) => string | undefined} */ (
  /** @type {unknown} */ (canonicalizeModule)
);

/** The manifest's own name in a deployment; never listed in itself. */
export const RELEASE_FILE = 'release.json';

/** Limits on what a manifest (which may come from a hostile server) may hold. */
export const LIMITS = Object.freeze({
  maxFiles: 2000,
  maxFileBytes: 50 * 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
  maxPathLength: 512,
  maxFieldLength: 8192,
});

export class ReleaseError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'ReleaseError';
    this.code = code;
  }
}

/**
 * @typedef {{
 *   app: string, version: string, commit: string, default_csp: string,
 *   default_index: string, default_fallback: string, wasm: string[],
 *   files: Record<string, string>, build_hash: string,
 * }} Manifest
 * @typedef {{ manifest: Manifest, signatures: Record<string, string> }} SignedRelease
 * @typedef {{ url: string, integrity: string, revision?: string | null }} PrecacheEntry
 */

/** base64url SHA-256 of bytes: the `files` value. @param {Uint8Array} bytes */
export function fileDigest(bytes) {
  return createHash('sha256').update(bytes).digest('base64url');
}

/** Every file under `dir` as sorted "/posix/path" (release.json excluded). @param {string} dir */
export function listFiles(dir) {
  /** @type {string[]} */
  const out = [];
  /** @param {string} abs @param {string} rel */
  const walk = (abs, rel) => {
    for (const name of readdirSync(abs).sort()) {
      const full = join(abs, name);
      const path = `${rel}/${name}`;
      const st = lstatSync(full);
      if (st.isDirectory()) walk(full, path);
      else if (st.isFile() && path !== `/${RELEASE_FILE}`) out.push(path);
      else if (!st.isFile()) throw new ReleaseError('bad_file', `${path} is neither a file nor a directory`);
      if (out.length > LIMITS.maxFiles)
        throw new ReleaseError('too_many_files', `more than ${LIMITS.maxFiles} files`);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** path → base64url SHA-256 for every file of a build. @param {string} dir */
export function hashDirectory(dir) {
  /** @type {Record<string, string>} */
  const files = {};
  for (const path of listFiles(dir)) files[path] = fileDigest(readFileSync(join(dir, path)));
  return files;
}

/** The precache table pwa/build/integrity.ts writes into sw.js (vite-plugin-pwa injects it as
 *  a JSON array literal). @param {string} swSource @returns {PrecacheEntry[]} */
export function precacheEntries(swSource) {
  const match = /\[\{"integrity":[^\]]*\]/.exec(swSource);
  if (!match) throw new ReleaseError('no_precache', 'sw.js carries no precache manifest with integrity');
  /** @type {unknown} */
  const parsed = JSON.parse(match[0]);
  if (!Array.isArray(parsed)) throw new ReleaseError('no_precache', 'the precache manifest is not a list');
  return parsed.map((entry) => {
    if (typeof entry?.url !== 'string' || typeof entry?.integrity !== 'string')
      throw new ReleaseError('no_precache', 'a precache entry lacks url or integrity');
    return { url: entry.url, integrity: entry.integrity, revision: entry.revision ?? null };
  });
}

/** The build hash Settings → About shows (pwa/src/sw.ts buildHash): hex SHA-256 over
 *  "/<url> <integrity>\n" of every precache entry, in URL order. @param {PrecacheEntry[]} entries */
export function buildHash(entries) {
  const sorted = [...entries].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  const text = sorted.map((e) => `/${e.url.replace(/^\//, '')} ${e.integrity}\n`).join('');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The manifest of a built dist directory.
 * @param {{ dist: string, app: string, version: string, commit: string, csp: string }} input
 * @returns {Manifest}
 */
export function createManifest({ dist, app, version, commit, csp }) {
  const files = hashDirectory(dist);
  for (const required of ['/index.html', '/sw.js']) {
    if (!files[required]) throw new ReleaseError('incomplete_build', `${required} is missing from ${dist}`);
  }
  const manifest = {
    app,
    version,
    commit,
    default_csp: csp,
    default_index: 'index.html',
    default_fallback: '/index.html',
    files,
    wasm: [],
    build_hash: buildHash(precacheEntries(readFileSync(join(dist, 'sw.js'), 'utf8'))),
  };
  validateManifest(manifest);
  return manifest;
}

/** The bytes that are signed: RFC 8785 canonical JSON of the manifest. @param {Manifest} manifest */
export function canonicalBytes(manifest) {
  const text = canonicalize(manifest);
  if (typeof text !== 'string')
    throw new ReleaseError('bad_manifest', 'the manifest cannot be canonicalized');
  return new TextEncoder().encode(text);
}

/** @param {Uint8Array} bytes */
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** @param {string} text @param {number} length @param {string} what */
function fromB64url(text, length, what) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+$/.test(text))
    throw new ReleaseError('bad_key', `${what} is not base64url`);
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (bytes.length !== length) throw new ReleaseError('bad_key', `${what} must be ${length} bytes`);
  return bytes;
}

/** A new release key pair (the secret never belongs in the repository). */
export function generateReleaseKey() {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey: b64url(secretKey), publicKey: b64url(ed25519.getPublicKey(secretKey)) };
}

/** @param {string} secretKey base64url 32-byte seed */
export function publicKeyOf(secretKey) {
  return b64url(ed25519.getPublicKey(fromB64url(secretKey, 32, 'the release secret key')));
}

/** @param {Manifest} manifest @param {string} secretKey base64url seed @returns {SignedRelease} */
export function signRelease(manifest, secretKey) {
  validateManifest(manifest);
  const seed = fromB64url(secretKey, 32, 'the release secret key');
  const signature = ed25519.sign(canonicalBytes(manifest), seed);
  return { manifest, signatures: { [b64url(ed25519.getPublicKey(seed))]: b64url(signature) } };
}

const DIGEST = /^[A-Za-z0-9_-]{43}$/;
const PATH = /^\/[A-Za-z0-9._~\-/]+$/;

/** Shape and limits of a manifest from anywhere (a server is untrusted). @param {unknown} m */
export function validateManifest(m) {
  /** @param {boolean} ok @param {string} message */
  const need = (ok, message) => {
    if (!ok) throw new ReleaseError('bad_manifest', message);
  };
  need(typeof m === 'object' && m !== null && !Array.isArray(m), 'manifest must be an object');
  const o = /** @type {Record<string, unknown>} */ (m);
  for (const key of [
    'app',
    'version',
    'commit',
    'default_csp',
    'default_index',
    'default_fallback',
    'build_hash',
  ]) {
    need(typeof o[key] === 'string' && o[key].length > 0, `${key} must be a non-empty string`);
    need(/** @type {string} */ (o[key]).length <= LIMITS.maxFieldLength, `${key} is too long`);
  }
  need(/^[0-9a-f]{64}$/.test(/** @type {string} */ (o.build_hash)), 'build_hash must be 64 hex digits');
  need(
    Array.isArray(o.wasm) && o.wasm.every((h) => typeof h === 'string' && DIGEST.test(h)),
    'wasm must list digests',
  );
  need(typeof o.files === 'object' && o.files !== null && !Array.isArray(o.files), 'files must be an object');
  const files = Object.entries(/** @type {Record<string, unknown>} */ (o.files));
  need(files.length > 0 && files.length <= LIMITS.maxFiles, `files must list 1..${LIMITS.maxFiles} files`);
  for (const [path, digest] of files) {
    need(
      path.length <= LIMITS.maxPathLength && PATH.test(path) && !path.includes('..'),
      `bad file path ${path}`,
    );
    need(typeof digest === 'string' && DIGEST.test(digest), `bad digest for ${path}`);
  }
  need(`/${o.default_index}` in /** @type {object} */ (o.files), 'default_index is not one of the files');
  need(
    /** @type {string} */ (o.default_fallback) in /** @type {object} */ (o.files),
    'default_fallback is not a file',
  );
  const known = new Set([
    'app',
    'version',
    'commit',
    'default_csp',
    'default_index',
    'default_fallback',
    'files',
    'wasm',
    'build_hash',
    'extra_csp',
  ]);
  for (const key of Object.keys(o)) need(known.has(key), `unknown manifest field ${key}`);
}

/**
 * Parses and verifies a signed release document against the trusted public keys.
 * @param {string | Uint8Array} document JSON text as received
 * @param {readonly string[]} trustedKeys base64url Ed25519 public keys
 * @returns {{ manifest: Manifest, signer: string }}
 */
export function verifyRelease(document, trustedKeys) {
  const text =
    typeof document === 'string' ? document : new TextDecoder('utf-8', { fatal: true }).decode(document);
  if (text.length > LIMITS.maxManifestBytes)
    throw new ReleaseError('too_large', 'the release manifest is too large');
  /** @type {any} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ReleaseError('bad_json', 'the release manifest is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new ReleaseError('bad_manifest', 'not an object');
  validateManifest(parsed.manifest);
  const signatures = parsed.signatures;
  if (typeof signatures !== 'object' || signatures === null || Array.isArray(signatures))
    throw new ReleaseError('unsigned', 'the release manifest carries no signatures');
  const message = canonicalBytes(parsed.manifest);
  for (const key of trustedKeys) {
    const signature = signatures[key];
    if (typeof signature !== 'string') continue;
    const publicKey = fromB64url(key, 32, 'a trusted public key');
    let sig;
    try {
      sig = fromB64url(signature, 64, 'a signature');
    } catch {
      continue;
    }
    if (ed25519.verify(sig, message, publicKey, { zip215: false }))
      return { manifest: parsed.manifest, signer: key };
  }
  throw new ReleaseError('bad_signature', 'no valid signature by a trusted release key');
}
