// @ts-check
// What a deployment serves, compared with a signed release manifest and with a local build
// (verify/README.md "What the verifier checks"). Everything fetched is untrusted input: sizes
// and counts are capped, redirects are refused, and a fetch that fails is reported, not skipped.
import { buildHash, fileDigest, LIMITS, precacheEntries, RELEASE_FILE, verifyRelease } from './release.mjs';

/**
 * @typedef {import('./release.mjs').Manifest} Manifest
 * @typedef {{ path: string, problem: 'differs' | 'missing' | 'unlisted' | 'headers', expected?: string, actual?: string, detail?: string }} FileFinding
 * @typedef {{
 *   origin: string, manifest: Manifest | null, signer: string | null, manifestError: string | null,
 *   files: FileFinding[], csp: { expected: string, actual: string | null } | null,
 *   buildHash: { expected: string, actual: string | null } | null, checked: number,
 * }} DeploymentReport
 */

const TIMEOUT_MS = 30_000;

/** Normalises the deployment's URL to its origin (https, or http only on loopback). @param {string} url */
export function deploymentOrigin(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: ${url}`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback))
    throw new Error('the deployment must be https:// (plain http only on loopback)');
  return parsed.origin;
}

/**
 * @param {string} url @param {Record<string, string>} [extra] request headers a browser sends for it
 * @returns {Promise<{ ok: true, bytes: Uint8Array, headers: Headers } | { ok: false, detail: string }>}
 */
async function get(url, extra = {}) {
  try {
    const response = await fetch(url, {
      redirect: 'error',
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: { 'cache-control': 'no-cache', ...extra },
    });
    if (!response.ok) return { ok: false, detail: `HTTP ${response.status}` };
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > LIMITS.maxFileBytes) return { ok: false, detail: 'larger than the limit' };
    // Read at most the limit, whatever the server claims (or does not claim) as its length.
    /** @type {Uint8Array[]} */
    const chunks = [];
    let total = 0;
    const reader = response.body?.getReader();
    for (let read = await reader?.read(); reader && read && !read.done; read = await reader.read()) {
      total += read.value.length;
      if (total > LIMITS.maxFileBytes) {
        await reader.cancel().catch(() => undefined);
        return { ok: false, detail: 'larger than the limit' };
      }
      chunks.push(read.value);
    }
    return { ok: true, bytes: new Uint8Array(Buffer.concat(chunks)), headers: response.headers };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/** sw.js's precache entries, or none when it has no table (it then differs from the manifest). @param {string} swSource */
function precacheTable(swSource) {
  try {
    return precacheEntries(swSource);
  } catch {
    return [];
  }
}

/** Paths index.html loads (script src, link href) and sw.js precaches: what a browser fetches. */
function referencedPaths(/** @type {string} */ indexHtml, /** @type {string | null} */ swSource) {
  const paths = new Set();
  for (const m of indexHtml.matchAll(/<(?:script|link)\b[^>]*?\s(?:src|href)="([^"]+)"/g)) {
    const ref = m[1] ?? '';
    if (ref.startsWith('/') && !ref.startsWith('//')) paths.add(ref.split(/[?#]/)[0]);
    else if (!/^(?:[a-z]+:)?\/\//i.test(ref)) paths.add(`/${ref.split(/[?#]/)[0]}`);
    else paths.add(ref); // another origin: always a finding, the manifest lists none
  }
  if (swSource) {
    try {
      for (const entry of precacheEntries(swSource)) paths.add(`/${entry.url.replace(/^\//, '')}`);
    } catch {
      // sw.js without a precache table: it will differ from the manifest's sw.js anyway.
    }
  }
  return paths;
}

/**
 * What in a response's headers changes what the browser runs of a signed document or worker:
 * only the bytes are signed, so a server could otherwise send the signed shell without its
 * policy (no Trusted Types in the installed app, whose service worker keeps the shell with the
 * headers it came with) or with a Refresh that sends every launch to a page of its own.
 * @param {Headers} headers @param {string} expectedCsp @returns {string | null}
 */
function headerProblem(headers, expectedCsp) {
  const csp = headers.get('content-security-policy');
  if (csp !== expectedCsp) return `Content-Security-Policy "${csp ?? '(none)'}" is not the signed one`;
  return refreshProblem(headers);
}

/** @param {Headers} headers @returns {string | null} */
function refreshProblem(headers) {
  if (headers.has('refresh')) return `a Refresh header ("${headers.get('refresh')}") leaves the app`;
  // A Link header preloads for the document: rel=modulepreload puts a module into the page's
  // module map without the integrity index.html gives it, and every later load of that URL
  // (the page's own checked link and import included) takes the map's copy; rel=stylesheet
  // applies CSS no integrity covers. The host never sends one.
  if (headers.has('link'))
    return `a Link header ("${headers.get('link')}") loads files without their integrity`;
  return null;
}

/** What a browser's service worker update check sends with its request for sw.js. */
const SERVICE_WORKER_FETCH = { 'service-worker': 'script', 'sec-fetch-dest': 'serviceworker' };

/**
 * Fetches the deployment's signed manifest and every file it serves, and compares.
 * @param {string} url the deployment
 * @param {readonly string[]} trustedKeys base64url release public keys
 * @returns {Promise<DeploymentReport>}
 */
export async function checkDeployment(url, trustedKeys) {
  const origin = deploymentOrigin(url);
  /** @type {DeploymentReport} */
  const report = {
    origin,
    manifest: null,
    signer: null,
    manifestError: null,
    files: [],
    csp: null,
    buildHash: null,
    checked: 0,
  };
  const release = await get(`${origin}/${RELEASE_FILE}`);
  if (!release.ok) {
    report.manifestError = `${origin}/${RELEASE_FILE}: ${release.detail}`;
    return report;
  }
  try {
    const { manifest, signer } = verifyRelease(release.bytes, trustedKeys);
    report.manifest = manifest;
    report.signer = signer;
  } catch (err) {
    report.manifestError = err instanceof Error ? err.message : String(err);
    return report;
  }
  const manifest = report.manifest;
  /** @type {Map<string, Uint8Array>} */
  const served = new Map();
  for (const [path, expected] of Object.entries(manifest.files)) {
    const got = await get(`${origin}${path}`, path === '/sw.js' ? SERVICE_WORKER_FETCH : {});
    report.checked++;
    if (!got.ok) {
      report.files.push({ path, problem: 'missing', expected, detail: got.detail });
      continue;
    }
    served.set(path, got.bytes);
    const actual = fileDigest(got.bytes);
    if (actual !== expected) report.files.push({ path, problem: 'differs', expected, actual });
    // The shell and the service worker run as documents or workers: their headers count too.
    const runs = path === `/${manifest.default_index}` || path === '/sw.js';
    const wrong = runs ? headerProblem(got.headers, manifest.default_csp) : null;
    if (wrong) report.files.push({ path, problem: 'headers', detail: wrong });
  }
  // The shell as a browser receives it for "/" (the SPA view), and the CSP sent with it.
  const shell = await get(`${origin}/`);
  report.checked++;
  const indexExpected = manifest.files[`/${manifest.default_index}`] ?? '';
  if (!shell.ok)
    report.files.push({ path: '/', problem: 'missing', expected: indexExpected, detail: shell.detail });
  else {
    const actual = fileDigest(shell.bytes);
    if (actual !== indexExpected)
      report.files.push({ path: '/', problem: 'differs', expected: indexExpected, actual });
    const csp = shell.headers.get('content-security-policy');
    report.csp = { expected: manifest.default_csp, actual: csp };
    // (Its policy is reported as report.csp.)
    const refresh = refreshProblem(shell.headers);
    if (refresh) report.files.push({ path: '/', problem: 'headers', detail: refresh });
  }
  const decoder = new TextDecoder();
  const indexBytes = shell.ok ? shell.bytes : served.get(`/${manifest.default_index}`);
  const swBytes = served.get('/sw.js');
  // The files as the service worker fetches them when it installs: workbox asks for an entry
  // with a revision at "<url>?__WB_REVISION__=<revision>", and keeps that answer, headers
  // included, as what it serves from then on (the shell for every launch). A server could tell
  // those requests from the ones above by the query alone.
  const revisioned = new Map();
  for (const entry of swBytes ? precacheTable(decoder.decode(swBytes)) : []) {
    const path = `/${entry.url.replace(/^\//, '')}`;
    // Only files of the manifest (any other is reported as unlisted below), each once.
    if (entry.revision != null && path in manifest.files) revisioned.set(path, String(entry.revision));
  }
  for (const [path, revision] of revisioned) {
    const url = new URL(`${origin}${path}`);
    url.searchParams.set('__WB_REVISION__', revision);
    const shown = `${path}${url.search}`;
    const got = await get(url.href);
    report.checked++;
    const expected = manifest.files[path] ?? '';
    if (!got.ok) {
      report.files.push({ path: shown, problem: 'missing', expected, detail: got.detail });
      continue;
    }
    const actual = fileDigest(got.bytes);
    if (actual !== expected) report.files.push({ path: shown, problem: 'differs', expected, actual });
    const wrong =
      path === `/${manifest.default_index}` ? headerProblem(got.headers, manifest.default_csp) : null;
    if (wrong) report.files.push({ path: shown, problem: 'headers', detail: wrong });
  }
  if (indexBytes) {
    const sw = swBytes ? decoder.decode(swBytes) : null;
    for (const path of referencedPaths(decoder.decode(indexBytes), sw)) {
      if (!(path in manifest.files))
        report.files.push({ path, problem: 'unlisted', detail: 'loaded but not in the manifest' });
    }
    let actualHash = null;
    try {
      actualHash = sw ? buildHash(precacheEntries(sw)) : null;
    } catch {
      actualHash = null;
    }
    report.buildHash = { expected: manifest.build_hash, actual: actualHash };
  }
  return report;
}

/**
 * Compares the manifest's files with a local reproducible build.
 * @param {Manifest} manifest @param {Record<string, string>} localFiles
 * @returns {FileFinding[]}
 */
export function compareWithBuild(manifest, localFiles) {
  /** @type {FileFinding[]} */
  const findings = [];
  for (const [path, expected] of Object.entries(localFiles)) {
    const actual = manifest.files[path];
    if (actual === undefined)
      findings.push({ path, problem: 'missing', expected, detail: 'in the local build only' });
    else if (actual !== expected) findings.push({ path, problem: 'differs', expected, actual });
  }
  for (const path of Object.keys(manifest.files)) {
    if (!(path in localFiles)) findings.push({ path, problem: 'unlisted', detail: 'not in the local build' });
  }
  return findings;
}

/** True when the deployment matched its signed manifest in every respect. @param {DeploymentReport} r */
export function deploymentMatches(r) {
  return (
    r.manifest !== null &&
    r.files.length === 0 &&
    r.csp !== null &&
    r.csp.actual === r.csp.expected &&
    r.buildHash !== null &&
    r.buildHash.actual === r.buildHash.expected
  );
}
