// Time and memory against the session: a repeat held back until its skipped key expired (spec
// §6.3, §7.4 step 2), the DH outputs of a ratchet step wiped (§7.5), and a property with a clock
// that jumps past MAX_SKIPPED_KEY_AGE_MS.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CryptoCoreError } from '../src/errors.js';
import {
  type Accepted,
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { MAX_PREVIOUS_CHAINS, MAX_SKIPPED_KEY_AGE_MS } from '../src/session-limits.js';
import { nobleX25519, type X25519Backend } from '../src/x25519-backend.js';
import { ACC, CTX, content, enc, makeParties, opts, replayLog } from './fixtures.js';

describe('a repeated initial message is DUPLICATE_MESSAGE however far the session moved (spec §6.3)', () => {
  it('attack: the relay holds back an initial message until its skipped key expired and its chain was forgotten', async () => {
    const p = makeParties('expired repeat');
    let now = 1_000_000;
    const clock = () => now;
    let a: SessionState = initiateSession(p.alice, p.bundle, ACC, opts('h1')).session;
    const m: Uint8Array[] = [];
    for (let i = 0; i < 2; i++) {
      const out = await encryptMessage(a, 'text', content(enc(`m${i}`), i + 1), opts(`h1${i}`, clock));
      a = out.session;
      m.push(out.message);
    }
    // The relay holds m0 back and delivers m1: Bob stores m0's key as skipped.
    let b = (await acceptSession(p.bobKeys, m[1] as Uint8Array, CTX, opts('h2', clock))).session;
    expect(b.skippedKeys).toHaveLength(1);
    // Enough round trips that Alice's first chain leaves Bob's finished chains.
    for (let i = 0; i <= MAX_PREVIOUS_CHAINS + 1; i++) {
      const r = await encryptMessage(b, 'text', content(enc(`r${i}`), i + 1), opts(`h3${i}`, clock));
      a = (await decryptMessage(a, r.message, opts(`h4${i}`, clock))).session;
      const s = await encryptMessage(a, 'text', content(enc(`s${i}`), i + 3), opts(`h5${i}`, clock));
      b = (await decryptMessage(r.session, s.message, opts(`h6${i}`, clock))).session;
    }
    expect(b.skippedKeys).toHaveLength(1); // m0's key, not used yet
    // The session goes quiet past the age bound; then the relay delivers m0.
    now += MAX_SKIPPED_KEY_AGE_MS + 24 * 3600 * 1000;
    await expect(decryptMessage(b, m[0] as Uint8Array, opts('h7', clock))).rejects.toMatchObject({
      code: 'DUPLICATE_MESSAGE',
    });
  });
});

describe('DH outputs of the ratchet are wiped after use (spec §7.5: secrets are not kept)', () => {
  it('every X25519 output a DH ratchet step computes is all zeros once the decryption returns', async () => {
    const p = makeParties('wipe');
    const outputs: Uint8Array[] = [];
    // A backend that hands out its results and remembers them: what the ratchet leaves in them
    // is what stays in memory until the garbage collector runs.
    const spy: X25519Backend = {
      name: 'noble',
      publicKey: (sk) => nobleX25519.publicKey(sk),
      sharedSecret: async (sk, pk) => {
        const out = await nobleX25519.sharedSecret(sk, pk);
        outputs.push(out);
        return out;
      },
    };
    const a = initiateSession(p.alice, p.bundle, ACC, opts('w1')).session;
    const m = await encryptMessage(a, 'text', content(enc('hi')), opts('w2'));
    const b = await acceptSession(p.bobKeys, m.message, CTX, { ...opts('w3'), x25519: spy });
    const r = await encryptMessage(b.session, 'text', content(enc('re')), opts('w4'));
    await decryptMessage(m.session, r.message, { ...opts('w5'), x25519: spy });
    expect(outputs.length).toBeGreaterThanOrEqual(4); // two DH ratchet steps, two DHs each
    for (const out of outputs) expect(out.every((x) => x === 0)).toBe(true);
  });
});

describe('property: time passing never turns a repeat or a held-back message into anything but a refusal', () => {
  type Who = 'A' | 'B';
  interface Msg {
    bytes: Uint8Array;
    sentAt: number;
  }
  const P = makeParties('time property');

  it('with the clock jumping past MAX_SKIPPED_KEY_AGE_MS: first deliveries open unless their key expired (DUPLICATE_MESSAGE), repeats of initial messages are always DUPLICATE_MESSAGE', async () => {
    // Mostly conversation, so that chains pile up past MAX_PREVIOUS_CHAINS before a wait.
    const step = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({ t: fc.constant('send' as const), who: fc.constantFrom<Who>('A', 'B') }),
      },
      {
        weight: 5,
        arbitrary: fc.record({
          t: fc.constant('deliver' as const),
          who: fc.constantFrom<Who>('A', 'B'),
          pick: fc.nat(),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('replay' as const),
          who: fc.constantFrom<Who>('A', 'B'),
          pick: fc.nat(),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ t: fc.constant('wait' as const), days: fc.integer({ min: 1, max: 40 }) }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 40, maxLength: 120 }), async (steps) => {
        let now = 1_000_000;
        let draws = 0; // every call draws from a fresh labelled source: no two ratchet keys alike
        const o = (l: string) => opts(`${l} ${draws++}`, () => now);
        const log = replayLog();
        const state: Record<Who, SessionState | null> = {
          A: initiateSession(P.alice, P.bundle, ACC, o('A')).session,
          B: null,
        };
        const inFlight: Record<Who, Msg[]> = { A: [], B: [] };
        const seen: Record<Who, Msg[]> = { A: [], B: [] };
        let n = 0;
        const open = (to: Who, bytes: Uint8Array) => {
          const s = state[to];
          return s === null
            ? acceptSession(P.bobKeys, bytes, log, o('acc'))
            : decryptMessage(s, bytes, o('dec'));
        };
        const refused = async (to: Who, bytes: Uint8Array): Promise<string> => {
          const s = state[to];
          const before = s && serializeSession(s);
          const err = await open(to, bytes).then(
            () => 'opened',
            (e: unknown) => (e instanceof CryptoCoreError ? e.code : String(e)),
          );
          if (s) expect(serializeSession(s)).toEqual(before);
          return err;
        };
        for (const st of [{ t: 'send', who: 'A' } as const, ...steps]) {
          if (st.t === 'wait') now += st.days * 24 * 3600 * 1000;
          else if (st.t === 'send') {
            const s = state[st.who];
            if (s === null || s.sendingChain === null) continue;
            const out = await encryptMessage(s, 'text', content(enc(`m${n}`), ++n), o(`s${n}`));
            state[st.who] = out.session;
            inFlight[st.who === 'A' ? 'B' : 'A'].push({ bytes: out.message, sentAt: now });
          } else if (st.t === 'deliver') {
            const q = inFlight[st.who];
            if (q.length === 0) continue;
            const [msg] = q.splice(st.pick % q.length, 1) as [Msg];
            seen[st.who].push(msg);
            // A key is stored no earlier than its message was sent: only a message older than
            // the bound may have lost its key, and then it is DUPLICATE_MESSAGE, nothing else.
            if (now - msg.sentAt > MAX_SKIPPED_KEY_AGE_MS) {
              const code = await refused(st.who, msg.bytes);
              if (code === 'opened') await open(st.who, msg.bytes).then((r) => (state[st.who] = r.session));
              else expect(code).toBe('DUPLICATE_MESSAGE');
              continue;
            }
            const r = await open(st.who, msg.bytes);
            if ('replayRecord' in r) log.seen.add((r as Accepted).replayRecord.baseKeyHex);
            state[st.who] = r.session;
          } else {
            const done = seen[st.who];
            if (done.length === 0) continue;
            const msg = done[st.pick % done.length] as Msg;
            const code = await refused(st.who, msg.bytes);
            if (messageKind(msg.bytes) === 'initial') expect(code).toBe('DUPLICATE_MESSAGE');
            else expect(['DUPLICATE_MESSAGE', 'AUTH_FAILED']).toContain(code);
          }
        }
      }),
      { numRuns: 25 },
    );
  });
});
