// Set-ups and interceptions for tests that race a chat's stores against each other (a deletion, a
// sync copy, a list read, an outbox pass) with real Messengers against the real relay
// (messenger-devices.ts): a gate a request waits at, a write or lock a step runs inside, sends
// that fail until stopped. Nothing here sleeps: each waits for the step it names.
import { onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { RECORD as OUTBOX } from '../outbox/records.ts';
import { tinyJpeg } from '../photo/exif-fixture.ts';
import type { StoredPeer } from '../secure/records.ts';
import type { Outgoing } from '../state/messenger/outgoing.ts';
import type { WriteOp } from '../storage/storage.ts';
import { ApiError } from '../transport/errors.ts';
import { SocketFirst } from '../transport/socket-first.ts';
import { type Device, linked, pair, stateOf } from './messenger-devices.ts';

export const hasContact = (d: Device, name: string) =>
  d.sinks.contacts.value.some((c) => c.username === name);
export const contactOf = (d: Device, name: string) => d.sinks.contacts.value.find((c) => c.username === name);
export const isBlocked = (d: Device, name: string) => contactOf(d, name)?.blocked === true;

// The Messenger's internals a test reaches (private in TypeScript, reachable at run time).
export interface Internals {
  outgoing: Outgoing;
  applyContactLists(): Promise<void>;
}
export const internals = (d: Device) => d.m as unknown as Internals;

/**
 * Every send any device makes from now on is counted, and fails with `err` until stop(): a 503
 * leaves the message sealed and queued for a resend, a 400 fails it with a retry button. Failing
 * all along, not only once, so the outbox's own retry cannot send it behind the test's back.
 */
export function failSends(err: ApiError) {
  const real = SocketFirst.prototype.sendMessage;
  let failing = true;
  const clientIds: string[] = [];
  const spy = vi.spyOn(SocketFirst.prototype, 'sendMessage').mockImplementation(function (
    this: SocketFirst,
    ...args
  ) {
    clientIds.push(args[1]);
    return failing ? Promise.reject(err) : real.apply(this, args);
  });
  onTestFinished(() => spy.mockRestore());
  return {
    attempts: () => clientIds.length,
    failed: () => clientIds.length >= 1,
    stop: () => {
      failing = false;
    },
    clientIds,
  };
}

export const unavailable = () => new ApiError(503, 'unavailable', 'a transient failure');

/** A point a request stops at (hold) until the test releases it; `entered` once one has. */
export function holdUntilReleased() {
  let release = () => {};
  const opened = new Promise<void>((r) => {
    release = r;
  });
  const gate = {
    entered: false,
    release: () => release(),
    hold: () => {
      gate.entered = true;
      return opened;
    },
  };
  return gate;
}

/**
 * From now on, the calls of `target[method]` that `when` picks (all by default) wait at the
 * returned gate until it is released (at the test's end at the latest), then go through.
 */
export function holdCalls<T extends object>(
  target: T,
  method: keyof T & string,
  when: (args: unknown[]) => boolean = () => true,
) {
  const gate = holdUntilReleased();
  const real = target[method] as (...args: unknown[]) => unknown;
  const spy = vi
    .spyOn(target as Record<string, (...args: unknown[]) => unknown>, method)
    .mockImplementation(async function (this: unknown, ...args: unknown[]) {
      if (when(args)) await gate.hold();
      return real.apply(this, args);
    });
  onTestFinished(() => {
    gate.release();
    spy.mockRestore();
  });
  return gate;
}

/**
 * Runs `act` inside the first write of `d` that `matches`; the write goes on once `act` has
 * finished, or has asked for the lock `lockKey` while the writer holds it (it would wait for the
 * write). `started` gives `act`'s promise, null until the write came; `written`, whether that
 * write has completed.
 */
export function duringWrite(
  d: Device,
  matches: (ops: readonly WriteOp[]) => boolean,
  lockKey: string,
  act: () => Promise<void>,
) {
  const locks = watchLocks(d);
  const realWrite = d.storage.write.bind(d.storage);
  let started: Promise<void> | null = null;
  let written = false;
  const write = vi.spyOn(d.storage, 'write').mockImplementation(async (ops: readonly WriteOp[], options) => {
    if (started || !matches(ops)) return realWrite(ops, options);
    const act$ = act();
    started = act$;
    // Asked for while no one holds it, the lock is no reason to go on: `act` runs on to its end.
    const asked = locks.nextRequest(lockKey).then(() => (locks.held(lockKey) ? undefined : act$));
    await Promise.race([act$, asked]);
    await realWrite(ops, options);
    written = true;
  });
  onTestFinished(() => write.mockRestore());
  return { started: () => started, written: () => written };
}

/** Watches `d`'s SessionManager's locks: which are held now, and when one is next asked for. */
export function watchLocks(d: Device) {
  const locks = (
    d.m.sm as unknown as {
      locks: { run: (key: string, task: () => Promise<unknown>) => Promise<unknown> };
    }
  ).locks;
  const realRun = locks.run.bind(locks);
  const held = new Set<string>();
  let waiters: { key: string; resolve: () => void }[] = [];
  const run = vi.spyOn(locks, 'run').mockImplementation((key, task) => {
    for (const w of waiters) if (w.key === key) w.resolve();
    waiters = waiters.filter((w) => w.key !== key);
    return realRun(key, async () => {
      held.add(key);
      try {
        return await task();
      } finally {
        held.delete(key);
      }
    });
  });
  onTestFinished(() => run.mockRestore());
  return {
    held: (key: string) => held.has(key),
    nextRequest: (key: string) => new Promise<void>((resolve) => waiters.push({ key, resolve })),
  };
}

/**
 * duringWrite at the write by which `d` stores a message from `name` that keeps them a message
 * request (the store read the peer under its lock and writes it back).
 */
export function duringRequestStore(d: Device, name: string, lockKey: string, act: () => Promise<void>) {
  const storesRequest = (ops: readonly WriteOp[]) =>
    ops.some(
      (op) =>
        op.kind === 'put' &&
        (op.value as Partial<StoredPeer> | undefined)?.username === name &&
        (op.value as StoredPeer).request === true,
    ) && ops.some((op) => op.kind === 'putMessage');
  return duringWrite(d, storesRequest, lockKey, act).started;
}

/**
 * Opens `gate` and lets `d`'s outbox run a pass between the two writes of its next chat deletion:
 * the peer and its outbox items deleted, the chat's rows not yet.
 */
export function passBetweenDeletionWrites(d: Device, gate: { release: () => void }) {
  const realDeleteChat = d.storage.deleteChat.bind(d.storage);
  const deleteChat = vi.spyOn(d.storage, 'deleteChat').mockImplementation(async (chat) => {
    gate.release();
    await d.m.outbox.flush();
    return realDeleteChat(chat);
  });
  onTestFinished(() => deleteChat.mockRestore());
}

/** Every peer record of `name` that `d`'s store is asked to write from now on. */
export function peerWrites(d: Device, name: string): StoredPeer[] {
  const written: StoredPeer[] = [];
  const realWrite = d.storage.write.bind(d.storage);
  const write = vi.spyOn(d.storage, 'write').mockImplementation(async (ops, options) => {
    for (const op of ops)
      if (op.kind === 'put' && (op.value as Partial<StoredPeer> | undefined)?.username === name)
        written.push(op.value as StoredPeer);
    return realWrite(ops, options);
  });
  onTestFinished(() => write.mockRestore());
  return written;
}

/** Alice's laptop and phone, and bob, the contact of both; bob's chat is on the phone. */
export async function laptopPhoneAndBob(prefixes: [string, string]) {
  const [laptop, bob] = await pair(prefixes);
  const phone = await linked(laptop);
  await until(() => hasContact(phone, bob.user.username), 'the phone has bob');
  return { laptop, phone, bob, b: bob.user.username };
}

/**
 * laptopPhoneAndBob, then: the phone queues 'queued before the block' for bob while every send
 * fails (`sends`, until its stop()), and the laptop blocks bob, which the phone does not hear of
 * (its list reads name no block).
 */
export async function blockedWhileQueuedOnPhone(prefixes: [string, string]) {
  const devices = await laptopPhoneAndBob(prefixes);
  const { laptop, phone, b } = devices;
  const sends = failSends(unavailable());
  const queued = await phone.m.sendText(b, 'queued before the block');
  await until(() => sends.failed() && stateOf(phone, b, queued) === 'queued', 'the first attempt failed');
  const phoneBlocks = vi.spyOn(phone.api, 'blocks').mockResolvedValue([]);
  onTestFinished(() => phoneBlocks.mockRestore());
  await laptop.m.blockContact(b);
  return { ...devices, sends };
}

/**
 * Queues a JPEG photo from `from` to `to` as Outgoing.sendPhoto stores one (preparePhoto needs a
 * canvas), announced as `width`×`height` (the sender's word); a 16×8 test JPEG by default.
 */
export async function queuePhoto(
  from: Device,
  to: string,
  photo: { bytes: Uint8Array; width: number; height: number } = { bytes: tinyJpeg(), width: 16, height: 8 },
): Promise<string> {
  const peer = from.m.sm.knownPeer(to);
  if (!peer) throw new Error('no peer');
  const prepared = { ...photo, mime: 'image/jpeg' as const, thumbnail: new Uint8Array(0) };
  const id = crypto.randomUUID();
  const now = Date.now();
  await from.m.outbox.enqueue(
    {
      id,
      contact: to,
      direction: 'out',
      at: now,
      storedAt: now,
      state: 'queued',
      body: {
        kind: 'photo',
        photo: {
          mime: 'image/jpeg',
          width: photo.width,
          height: photo.height,
          size: photo.bytes.length,
          blobId: null,
          ciphertextSha256: null,
          thumbnail: prepared.thumbnail,
        },
      },
    },
    { id, contact: to, chatId: peer.chatId, kind: 'photo', createdAt: now, wire: null, failed: null },
    [
      { kind: 'put', key: OUTBOX.photo(id), value: { mime: prepared.mime, bytes: photo.bytes } },
      { kind: 'put', key: OUTBOX.outgoingPhoto(id), value: prepared },
    ],
  );
  return id;
}
