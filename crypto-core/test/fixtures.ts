// Shared test parties, generated once per file from fixed seeds (ML-KEM keygen is the
// slow step; sessions themselves are cheap to start).
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import type { PreKeyBundle } from '../src/bundle.js';
import { generateIdentity } from '../src/identity.js';
import { generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey } from '../src/prekeys.js';
import type {
  AcceptContext,
  MessageContent,
  ResponderKeys,
  SessionAccounts,
  SessionOptions,
} from '../src/session.js';

export function makeParties(label = 'fixtures') {
  const r = deterministicRandom(`test ${label}`);
  const alice = generateIdentity(r);
  const bob = generateIdentity(r);
  const spk = generateSignedPreKey(bob, 1, r);
  const pq = generatePqPreKey(bob, 2, r);
  const opks = generateOneTimePreKeys(100, 3, r);
  const opk = opks[0];
  if (opk === undefined) throw new Error('unreachable');
  const bundle: PreKeyBundle = {
    identityKey: bob.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { kind: pq.kind, id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    oneTimePreKey: { id: opk.id, publicKey: opk.publicKey },
  };
  const bobKeys: ResponderKeys = { identity: bob, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk };
  return { alice, bob, spk, pq, opk, opks, bundle, bobKeys };
}

/** The accounts of the fixture parties: Alice initiates, Bob responds (spec §5.4). */
export const ACC: SessionAccounts = { initiator: 'alice', responder: 'bob' };
/** Bob's accept context with an empty replay log (spec §6.3). */
export const CTX: AcceptContext = { ...ACC, isKnownBaseKey: () => false };
/** Bob's accept context backed by a replay log the test can inspect. */
export function replayLog(accounts: SessionAccounts = ACC): AcceptContext & { seen: Set<string> } {
  const seen = new Set<string>();
  return { ...accounts, seen, isKnownBaseKey: (k) => seen.has(Buffer.from(k).toString('hex')) };
}
/** A message's content (spec §9.1) with a fixed clock reading. */
export function content(body: Uint8Array, order = 1, sentAt = 1_767_225_600_000): MessageContent {
  return { body, sentAt, order };
}

/** Options with deterministic randomness, a controllable clock and the noble AEAD. */
export function opts(label: string, clock: () => number = () => 1_000_000): SessionOptions {
  return { random: deterministicRandom(label), clock, aead: nobleAesGcm };
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
