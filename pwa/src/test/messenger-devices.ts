// Signed-in devices for tests that run real Messengers in one process against the REAL relay
// (test-relay/global-setup.ts): each over its own encrypted IndexedDB store, the browser's
// WebSocket global being the `ws` client (Node 20 has none), opened with the Origin the relay
// allows, as a page on the host would. Files using this run in vitest's `node` environment.
import { afterAll, afterEach, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { until } from '../../../scripts/lib/until.mjs';
import { publishAccountKeys, publishDeviceKeys, requireIdentity } from '../secure/account-keys.ts';
import { Messenger } from '../state/messenger.ts';
import type { AppNotice } from '../state/types.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { Storage } from '../storage/storage.ts';
import type { RelayApi } from '../transport/api.ts';
import { type RelayUser, registerOnRelay, relayOrigin, relayWsUrl, signInAgain } from './relay.ts';
import { makeSinks } from './sinks.ts';

/** Installs `ws` as the WebSocket global for the calling test file, and stops its Messengers after each test. */
export function setUpRelayDevices(): void {
  const g = globalThis as { WebSocket?: unknown };
  const previous = g.WebSocket;
  beforeAll(() => {
    g.WebSocket = class extends WebSocket {
      constructor(url: string) {
        super(url, { origin: relayOrigin() });
      }
    };
  });
  afterAll(() => {
    g.WebSocket = previous;
  });
  afterEach(() => {
    for (const m of running.splice(0)) m.stop();
  });
}

const running: Messenger[] = [];

export interface Device {
  readonly user: RelayUser;
  readonly api: RelayApi;
  readonly storage: Storage;
  readonly sinks: ReturnType<typeof makeSinks>;
  readonly m: Messenger;
  /** How often the relay ended this device's session. */
  readonly ended: () => number;
}

/**
 * Photo uploads in Node: POST /send_photo (the same body and rules as the resumable tus upload
 * the browser uses, which has no Node transport here), counted in `photoUploads`.
 */
export const photoUploads: string[] = [];
const uploadPhoto: NonNullable<ConstructorParameters<typeof Messenger>[0]['uploadPhoto']> = async (
  http,
  to,
  blob,
) => {
  const bytes = blob instanceof Blob ? new Uint8Array(await blob.arrayBuffer()) : blob;
  const w = await http.request<{ id: string; size: number }>('POST', '/send_photo', { query: { to }, bytes });
  photoUploads.push(w.id);
  return { id: w.id, size: w.size };
};

export interface StartOptions {
  /** Go online and wait for it (default true). */
  readonly online?: boolean;
  readonly clock?: () => number;
  /** A relay of the test's own instead of the run's (test-relay/global-setup.ts). */
  readonly wsUrl?: string;
  readonly onNotice?: (n: AppNotice) => Promise<void>;
}

/** A Messenger for `user` on `storage`, loaded, and online unless told otherwise. */
export async function start(
  user: RelayUser,
  api: RelayApi,
  storage: Storage,
  { online = true, clock, wsUrl = relayWsUrl(), onNotice = async () => undefined }: StartOptions = {},
): Promise<Device> {
  const sinks = makeSinks();
  let ended = 0;
  const m = new Messenger({
    uploadPhoto,
    username: user.username,
    storage,
    api,
    sinks,
    wsUrl,
    onSessionEnded: () => {
      ended += 1;
    },
    onNotice,
    ...(clock ? { clock } : {}),
  });
  running.push(m);
  await m.load();
  if (online) {
    m.goOnline();
    await until(() => sinks.connection.value === 'online');
  }
  return { user, api, storage, sinks, m, ended: () => ended };
}

/** A new device for `user` (fresh store, keys created and uploaded), signed in on `api`. */
export async function device(user: RelayUser, api = user.api, options: StartOptions = {}): Promise<Device> {
  const storage = await openIdbStorage(`messenger-${user.username}-${crypto.randomUUID()}`);
  await publishAccountKeys(storage, user.username, api);
  return start(user, api, storage, options);
}

/**
 * A second device of `d`'s account, signed in with the account's `codeIndex`th code and online.
 * The approval the relay requires before a link (spec §16.8): a provisioning message sealed by a
 * device of the account, fetched by this session. Its content (the payload) is tested in
 * devices.test.ts; here the identity is copied directly.
 */
export async function linked(d: Device, codeIndex = 0): Promise<Device> {
  const api = await signInAgain(d.user, codeIndex);
  const storage = await openIdbStorage(`messenger-${d.user.username}-${crypto.randomUUID()}`);
  const keyPair = await requireIdentity(d.storage);
  const pqKey = crypto.getRandomValues(new Uint8Array(1184));
  const { address } = await api.createProvisioning(pqKey, 'Test device', 'desktop');
  await d.api.putProvisioning(address, new Uint8Array([1]));
  if ((await api.provisioningMessage(address)) === null) throw new Error('no provisioning message');
  await publishDeviceKeys(storage, d.user.username, keyPair, api, { name: 'Test device', kind: 'desktop' });
  return start(d.user, api, storage);
}

/** Two new accounts, each with one device, each the other's contact. */
export async function pair(prefixes: readonly [string, string] = ['ma', 'mb']): Promise<[Device, Device]> {
  const alice = await device(await registerOnRelay(prefixes[0]));
  const bob = await device(await registerOnRelay(prefixes[1]));
  await alice.m.addContact(bob.user.username);
  await bob.m.addContact(alice.user.username);
  return [alice, bob];
}

/** The texts of `d`'s chat with `contact` (other entries as `<kind>`). */
export const texts = (d: Device, contact: string) =>
  d.sinks.messages(contact).value.map((m) => (m.body.kind === 'text' ? m.body.text : `<${m.body.kind}>`));
export const stateOf = (d: Device, contact: string, id: string) =>
  d.sinks.messages(contact).value.find((m) => m.id === id)?.state;
export const chat = (d: Device, contact: string) => d.sinks.chats.value.find((c) => c.contact === contact);
