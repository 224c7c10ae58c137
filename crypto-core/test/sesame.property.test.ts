/**
 * The Sesame property of spec/protocol.md §16.3, with the real handshake and ratchet of
 * crypto-core and an in-memory relay: any interleaving of sends from several devices on both
 * sides, with devices linked and unlinked mid-conversation — every message reaches every
 * device that existed when it was sent (and still exists), exactly once, and no other device.
 *
 * The relay model keeps one FIFO mailbox per device, stores a send all-or-nothing and
 * refuses it when the sender's device lists are stale (409 stale_devices); the sender then
 * drops sessions of removed devices, starts sessions with the new ones, keeps the copies it
 * already sealed and resends. Receivers choose their session as §6.3 says (try the sessions
 * of the sending device, else accept a new one); sibling sessions (§16.2) carry sync copies
 * (§16.4), which name the peer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import type { PreKeyBundle } from '../src/bundle.js';
import { CryptoCoreError } from '../src/errors.js';
import { generateIdentity, type IdentityKeyPair } from '../src/identity.js';
import { generatePqPreKey, generateSignedPreKey, type PqPreKey, type SignedPreKey } from '../src/prekeys.js';
import {
  acceptSession,
  type Decrypted,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  type SessionOptions,
  type SessionState,
} from '../src/session.js';
import { decodeSync, encodeSync } from '../src/sync.js';

const DEVICE_LIMIT = 5;
const ACCOUNTS = ['alice', 'bob'] as const;
type Account = (typeof ACCOUNTS)[number];
const other = (a: Account): Account => (a === 'alice' ? 'bob' : 'alice');
const key = (account: Account, device: number) => `${account}:${device}`;

interface Device {
  account: Account;
  id: number;
  spk: SignedPreKey;
  pq: PqPreKey;
  bundle: PreKeyBundle;
  replayLog: Set<string>;
  /** Sessions per (account, device), newest last: the one used to send (§6.3). */
  sessions: Map<string, SessionState[]>;
  /** The device lists this device believes current (its Sesame records). */
  known: Map<Account, Set<number>>;
  /** Largest order seen per conversation (§16.5). */
  order: Map<Account, number>;
  received: Map<string, number>;
  opts: SessionOptions;
}

interface Copy {
  from: Account;
  fromDevice: number;
  bytes: Uint8Array;
}

class World {
  readonly identity = new Map<Account, IdentityKeyPair>();
  readonly devices = new Map<string, Device>();
  readonly active = new Map<Account, Set<number>>();
  readonly mailbox = new Map<string, Copy[]>();
  readonly nextId = new Map<Account, number>();
  /** For every message: the devices active in either account when it was stored, but its sender. */
  readonly expected = new Map<string, Set<string>>();
  private msgCount = 0;
  private readonly r = deterministicRandom('sesame world');

  constructor() {
    for (const a of ACCOUNTS) {
      this.identity.set(a, generateIdentity(deterministicRandom(`sesame ${a}`)));
      this.active.set(a, new Set());
      this.nextId.set(a, 1);
    }
  }

  link(account: Account): void {
    const active = this.active.get(account) as Set<number>;
    if (active.size >= DEVICE_LIMIT) return; // 409 device_limit
    const id = this.nextId.get(account) as number;
    this.nextId.set(account, id + 1); // never reused (§16.1)
    const identity = this.identity.get(account) as IdentityKeyPair;
    const spk = generateSignedPreKey(identity, 1, this.r);
    const pq = generatePqPreKey(identity, 1, this.r);
    const bundle: PreKeyBundle = {
      identityKey: identity.publicKey,
      signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
      pqPreKey: { kind: pq.kind, id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    };
    const device: Device = {
      account,
      id,
      spk,
      pq,
      bundle,
      replayLog: new Set(),
      sessions: new Map(),
      known: new Map(ACCOUNTS.map((a) => [a, new Set<number>()])),
      order: new Map(),
      received: new Map(),
      opts: { random: deterministicRandom(`sesame device ${key(account, id)}`) },
    };
    this.devices.set(key(account, id), device);
    this.mailbox.set(key(account, id), []);
    active.add(id);
  }

  /** DELETE /devices/{id}: its mailbox goes with it (§16.9); others learn at their next send. */
  unlink(account: Account, pick: number): void {
    const ids = [...(this.active.get(account) as Set<number>)];
    if (ids.length <= 1) return;
    const id = ids[pick % ids.length] as number;
    (this.active.get(account) as Set<number>).delete(id);
    this.mailbox.delete(key(account, id));
  }

  private accounts(from: Account, to: Account) {
    return from === to
      ? { initiator: from, responder: to, sibling: true }
      : { initiator: from, responder: to };
  }

  private async seal(
    sender: Device,
    to: Account,
    device: number,
    body: Uint8Array,
    stamp: { sentAt: number; order: number },
  ) {
    const k = key(to, device);
    let list = sender.sessions.get(k);
    if (list === undefined || list.length === 0) {
      // GET /keys/{to}?device_ids=…: a bundle only for a device it has no session with.
      const target = this.devices.get(k) as Device;
      const identity = this.identity.get(sender.account) as IdentityKeyPair;
      list = [
        initiateSession(identity, target.bundle, this.accounts(sender.account, to), sender.opts).session,
      ];
      sender.sessions.set(k, list);
    }
    const current = list[list.length - 1] as SessionState;
    const out = await encryptMessage(
      current,
      to === sender.account ? 'sync' : 'text',
      { body, ...stamp },
      sender.opts,
    );
    list[list.length - 1] = out.session;
    return out.message;
  }

  async send(account: Account, pick: number): Promise<void> {
    const ids = [...(this.active.get(account) as Set<number>)];
    if (ids.length === 0) return;
    const sender = this.devices.get(key(account, ids[pick % ids.length] as number)) as Device;
    const peer = other(account);
    const id = `m${this.msgCount++}`;
    const order = (sender.order.get(peer) ?? 0) + 1;
    sender.order.set(peer, order);
    const stamp = { sentAt: 1_767_225_600_000 + this.msgCount, order };
    const text = new TextEncoder().encode(id);
    const sync = encodeSync({ peer, contentType: 'text', body: text });
    const sealed = new Map<string, Uint8Array>();
    for (let round = 0; ; round++) {
      expect(round).toBeLessThan(3); // one refusal at most here: nothing changes between rounds
      const want = {
        peer: sender.known.get(peer) as Set<number>,
        own: sender.known.get(account) as Set<number>,
      };
      for (const d of want.peer)
        if (!sealed.has(key(peer, d)))
          sealed.set(key(peer, d), await this.seal(sender, peer, d, text, stamp));
      for (const d of want.own)
        if (!sealed.has(key(account, d)))
          sealed.set(key(account, d), await this.seal(sender, account, d, sync, stamp));
      // The relay: both lists must be exactly the current ones (own without the sender).
      const currentPeer = this.active.get(peer) as Set<number>;
      const currentOwn = new Set(
        [...(this.active.get(account) as Set<number>)].filter((d) => d !== sender.id),
      );
      const same = (a: Set<number>, b: Set<number>) => a.size === b.size && [...a].every((x) => b.has(x));
      if (same(want.peer, currentPeer) && same(want.own, currentOwn)) {
        const recipients = new Set<string>();
        for (const [k, bytes] of sealed) {
          const [a, d] = k.split(':') as [Account, string];
          if (!(a === peer ? currentPeer : currentOwn).has(Number(d))) continue; // dropped device
          (this.mailbox.get(k) as Copy[]).push({ from: account, fromDevice: sender.id, bytes });
          recipients.add(k);
        }
        this.expected.set(id, recipients);
        return;
      }
      // 409 stale_devices: drop removed devices' copies and learn the new lists. Their sessions
      // stay, to open what they sent before their removal (spec §16.9): dropping them lost such a
      // message when it arrived after the stale answer (a repeated initial message then looked
      // like a replay).
      for (const [a, current] of [
        [peer, currentPeer],
        [account, currentOwn],
      ] as const) {
        for (const d of sender.known.get(a) as Set<number>) if (!current.has(d)) sealed.delete(key(a, d));
        sender.known.set(a, new Set(current));
      }
    }
  }

  private async open(device: Device, copy: Copy): Promise<Decrypted> {
    const k = key(copy.from, copy.fromDevice);
    const list = device.sessions.get(k) ?? [];
    for (const [i, s] of list.entries()) {
      try {
        const r = await decryptMessage(s, copy.bytes, device.opts);
        list[i] = r.session;
        return r;
      } catch (e) {
        if (!(e instanceof CryptoCoreError)) throw e;
        if (e.code === 'DUPLICATE_MESSAGE') throw e; // never expected: each copy arrives once
      }
    }
    expect(messageKind(copy.bytes)).toBe('initial');
    const identity = this.identity.get(device.account) as IdentityKeyPair;
    const r = await acceptSession(
      { identity, signedPreKey: device.spk, pqPreKey: device.pq },
      copy.bytes,
      {
        ...this.accounts(copy.from, device.account),
        isKnownBaseKey: (b) => device.replayLog.has(Buffer.from(b).toString('hex')),
      },
      device.opts,
    );
    device.replayLog.add(r.replayRecord.baseKeyHex);
    device.sessions.set(k, [...list, r.session]); // the newest session sends from now on (§6.3)
    return r;
  }

  async deliver(account: Account, pick: number, count: number): Promise<void> {
    const ids = [...(this.active.get(account) as Set<number>)];
    if (ids.length === 0) return;
    const id = ids[pick % ids.length] as number;
    const device = this.devices.get(key(account, id)) as Device;
    const box = this.mailbox.get(key(account, id)) as Copy[];
    for (let n = 0; n < count && box.length > 0; n++) {
      const copy = box.splice((pick + n) % box.length, 1)[0] as Copy; // any order
      const r = await this.open(device, copy);
      let msg: string;
      if (copy.from === account) {
        expect(r.contentType).toBe('sync');
        const s = decodeSync(r.body);
        expect(s.peer).toBe(other(account));
        msg = new TextDecoder().decode(s.body);
        const peer = other(account);
        device.order.set(peer, Math.max(device.order.get(peer) ?? 0, r.order)); // §16.5
      } else {
        expect(r.contentType).toBe('text');
        msg = new TextDecoder().decode(r.body);
      }
      device.received.set(msg, (device.received.get(msg) ?? 0) + 1);
    }
  }

  async drain(): Promise<void> {
    for (const a of ACCOUNTS)
      for (const id of this.active.get(a) as Set<number>)
        await this.deliver(a, [...(this.active.get(a) as Set<number>)].indexOf(id), Number.MAX_SAFE_INTEGER);
  }
}

type Op =
  | { op: 'send'; account: Account; pick: number }
  | { op: 'deliver'; account: Account; pick: number; count: number }
  | { op: 'link'; account: Account }
  | { op: 'unlink'; account: Account; pick: number };

const account = fc.constantFrom(...ACCOUNTS);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('send' as const), account, pick: fc.nat(9) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('deliver' as const),
      account,
      pick: fc.nat(9),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('link' as const), account }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unlink' as const), account, pick: fc.nat(9) }) },
);

describe('Sesame fan-out (spec §16.3)', () => {
  it('every message reaches every device that existed when it was sent, exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { minLength: 5, maxLength: 22 }),
        async (aliceDevices, bobDevices, ops) => {
          const w = new World();
          for (let i = 0; i < aliceDevices; i++) w.link('alice');
          for (let i = 0; i < bobDevices; i++) w.link('bob');
          for (const o of ops) {
            if (o.op === 'send') await w.send(o.account, o.pick);
            else if (o.op === 'deliver') await w.deliver(o.account, o.pick, o.count);
            else if (o.op === 'link') w.link(o.account);
            else w.unlink(o.account, o.pick);
          }
          await w.drain();
          for (const [k, device] of w.devices) {
            const alive = (w.active.get(device.account) as Set<number>).has(device.id);
            for (const [msg, recipients] of w.expected) {
              const got = device.received.get(msg) ?? 0;
              if (!recipients.has(k)) expect(got, `${k} must not get ${msg}`).toBe(0);
              else if (alive) expect(got, `${k} gets ${msg} exactly once`).toBe(1);
              else expect(got).toBeLessThanOrEqual(1); // removed later: its mailbox went with it
            }
          }
          // A device linked after a message was sent is never among its recipients.
          for (const recipients of w.expected) expect(recipients[1].size).toBeGreaterThan(0);
        },
      ),
      {
        numRuns: 14,
        // Found by this property: bob's device sends twice (both initial messages), is unlinked,
        // alice's send meets the stale list, then the second initial message reaches alice.
        examples: [
          [
            1,
            2,
            [
              { op: 'send', account: 'bob', pick: 7 },
              { op: 'send', account: 'bob', pick: 3 },
              { op: 'deliver', account: 'alice', pick: 0, count: 1 },
              { op: 'send', account: 'alice', pick: 0 },
              { op: 'unlink', account: 'bob', pick: 3 },
              { op: 'send', account: 'alice', pick: 0 },
              { op: 'send', account: 'alice', pick: 0 },
              { op: 'deliver', account: 'alice', pick: 0, count: 1 },
              { op: 'deliver', account: 'alice', pick: 0, count: 1 },
            ],
          ],
        ],
      },
    );
  });
});
