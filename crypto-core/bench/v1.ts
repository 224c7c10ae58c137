/**
 * Protocol version 1, loaded from git for the same-run v2-vs-v1 comparison of
 * bench/index.ts: the crypto-core sources of commit V1_COMMIT (the last version 1 commit on
 * main) are written with `git show` into a temporary directory whose node_modules links to
 * this repository's, and imported from there by tsx. No second copy of version 1 lives in
 * src/. Returns undefined (the comparison is skipped) when git or that commit is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The last version 1 commit of crypto-core (main before protocol version 2). */
export const V1_COMMIT = '18ad509';

/** The slice of the version 1 API the bench calls (spec version 1 §4–§9). */
export interface V1 {
  identity: { generateIdentity(): { publicKey: Uint8Array; secretKey: Uint8Array } };
  prekeys: {
    generateSignedPreKey(identity: unknown, id: number): SignedPreKeyLike;
    generatePqPreKey(identity: unknown, id: number): SignedPreKeyLike;
    generateOneTimePreKeys(
      firstId: number,
      count: number,
    ): { id: number; publicKey: Uint8Array; secretKey: Uint8Array }[];
  };
  session: {
    initiateSession(identity: unknown, bundle: unknown): { session: unknown };
    acceptSession(keys: unknown, message: Uint8Array): Promise<{ session: unknown }>;
    encryptMessage(
      session: unknown,
      type: 'text',
      plaintext: Uint8Array,
    ): Promise<{ session: unknown; message: Uint8Array }>;
    decryptMessage(session: unknown, message: Uint8Array): Promise<{ session: unknown }>;
  };
}
interface SignedPreKeyLike {
  id: number;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  signature: Uint8Array;
}

export async function loadV1(): Promise<V1 | undefined> {
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  const dir = join(tmpdir(), `secure-drop-bench-crypto-core-${V1_COMMIT}`);
  try {
    const files = execFileSync('git', ['-C', repo, 'ls-tree', '--name-only', V1_COMMIT, 'crypto-core/src/'], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((f) => f.endsWith('.ts'));
    mkdirSync(join(dir, 'src'), { recursive: true });
    for (const f of files) {
      const body = execFileSync('git', ['-C', repo, 'show', `${V1_COMMIT}:${f}`], { encoding: 'utf8' });
      writeFileSync(join(dir, 'src', f.slice('crypto-core/src/'.length)), body);
    }
    // Resolve @noble/* exactly as this checkout does.
    if (!existsSync(join(dir, 'node_modules')))
      symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  } catch (e) {
    console.log(
      `version 1 not loadable from git (${(e as Error).message.split('\n')[0]}): v1 comparison skipped.`,
    );
    return undefined;
  }
  const load = (m: string) => import(join(dir, 'src', m));
  return {
    identity: await load('identity.ts'),
    prekeys: await load('prekeys.ts'),
    session: await load('session.ts'),
  } as V1;
}
