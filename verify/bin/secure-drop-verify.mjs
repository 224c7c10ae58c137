#!/usr/bin/env node
// @ts-check
// secure-drop-verify <https://deployment> — does this server send exactly a signed, reproducible
// Secure Drop release? (verify/README.md). Exit 0: everything matches; 1: something differs;
// 2: could not check (bad arguments, no signed manifest).
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkoutState, reproducibleBuild } from '../src/build.mjs';
import { checkDeployment, compareWithBuild, deploymentMatches } from '../src/deployment.mjs';
import { publishedKeys } from '../src/keys.mjs';
import { hashDirectory } from '../src/release.mjs';

const USAGE = `usage: secure-drop-verify <url> [--key <base64url public key>]… [--local <built dist dir> | --no-build] [--json]

Fetches every file the deployment serves and its signed release manifest (/release.json),
checks the manifest's signature with the published release key (verify/release-key.pub),
compares each served file, the CSP and the build hash with the manifest, and compares the
manifest with a reproducible build of this checkout (or of --local).`;

/** @param {string} text */
const say = (text) => process.stdout.write(`${text}\n`);

/**
 * The command line with each `--key <value>` written `--key=<value>`: the argument after --key is
 * always its value. A base64url key starts with '-' one time in 64, and parseArgs would otherwise
 * refuse it as an option where a value was expected.
 * @param {string[]} args
 */
function keyValuesJoined(args) {
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < args.length; i++) {
    const arg = /** @type {string} */ (args[i]);
    if (arg === '--key' && i + 1 < args.length) out.push(`--key=${args[++i]}`);
    else out.push(arg);
  }
  return out;
}

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      args: keyValuesJoined(process.argv.slice(2)),
      allowPositionals: true,
      options: {
        key: { type: 'string', multiple: true },
        local: { type: 'string' },
        'no-build': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : err}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length !== 1) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const keys = values.key ?? publishedKeys();
  if (keys.length === 0) {
    console.error('no release public key: verify/release-key.pub is empty and no --key was given');
    return 2;
  }
  let report;
  try {
    report = await checkDeployment(positionals[0] ?? '', keys);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 2;
  }
  const manifest = report.manifest;
  /** @type {{ compared: boolean, why?: string, findings: import('../src/deployment.mjs').FileFinding[] }} */
  const local = { compared: false, findings: [] };
  if (manifest && values.local) {
    local.compared = true;
    local.findings = compareWithBuild(manifest, hashDirectory(values.local));
  } else if (manifest && !values['no-build']) {
    const state = checkoutState();
    if (state.commit !== manifest.commit || state.dirty) {
      local.why = `this checkout is at ${state.commit}${state.dirty ? ' with local changes' : ''}; the release is ${manifest.commit}: run \`git checkout ${manifest.commit}\` (clean) to compare with a local build`;
    } else {
      if (!values.json) say('building this checkout reproducibly to compare (this takes a minute)…');
      const { dir, dist } = reproducibleBuild();
      try {
        local.compared = true;
        local.findings = compareWithBuild(manifest, hashDirectory(dist));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } else if (manifest) local.why = 'skipped (--no-build)';

  const ok = deploymentMatches(report) && (!local.compared || local.findings.length === 0);
  if (values.json) {
    say(JSON.stringify({ ok, ...report, local }, null, 2));
    return ok ? 0 : report.manifest ? 1 : 2;
  }
  say(`Secure Drop deployment check: ${report.origin}`);
  if (!manifest) {
    say(`  ✗ signed release manifest: ${report.manifestError}`);
    say(
      'Result: CANNOT VERIFY — this deployment does not serve a release manifest signed by the release key.',
    );
    return 2;
  }
  say(
    `  ✓ release manifest: version ${manifest.version}, commit ${manifest.commit}, signed by ${report.signer}`,
  );
  const bad = report.files;
  if (bad.length === 0) say(`  ✓ files: ${report.checked} fetched, every one matches the signed manifest`);
  else {
    say(`  ✗ files: ${bad.length} of ${report.checked} do not match the signed manifest:`);
    for (const f of bad) {
      if (f.problem === 'differs')
        say(`      ${f.path}  DIFFERS: served sha256 ${f.actual}, signed ${f.expected}`);
      else if (f.problem === 'missing') say(`      ${f.path}  NOT SERVED (${f.detail})`);
      else if (f.problem === 'headers') say(`      ${f.path}  HEADERS: ${f.detail}`);
      else say(`      ${f.path}  NOT IN THE MANIFEST (${f.detail})`);
    }
  }
  if (report.csp && report.csp.actual === report.csp.expected) say('  ✓ Content-Security-Policy: as signed');
  else
    say(
      `  ✗ Content-Security-Policy: served "${report.csp?.actual ?? '(none)'}", signed "${manifest.default_csp}"`,
    );
  if (report.buildHash && report.buildHash.actual === report.buildHash.expected)
    say(`  ✓ build hash (Settings → About): ${manifest.build_hash}`);
  else
    say(`  ✗ build hash: served ${report.buildHash?.actual ?? '(unknown)'}, signed ${manifest.build_hash}`);
  if (local.compared && local.findings.length === 0)
    say('  ✓ local reproducible build: identical to the signed manifest');
  else if (local.compared) {
    say(`  ✗ local reproducible build: ${local.findings.length} files differ from the signed manifest:`);
    for (const f of local.findings) say(`      ${f.path}  ${f.problem === 'differs' ? 'DIFFERS' : f.detail}`);
  } else say(`  – local reproducible build: not compared — ${local.why}`);
  say(
    ok
      ? `Result: OK — ${report.origin} serves exactly release ${manifest.version} (commit ${manifest.commit}).`
      : `Result: DIFFERENT — ${report.origin} does not serve exactly the signed release ${manifest.version}; see ✗ above.`,
  );
  return ok ? 0 : 1;
}

process.exitCode = await main();
