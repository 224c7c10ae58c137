// After the app locks (app.ts closeSession: messenger.stop(), the store locked, the views
// emptied), nothing decrypted is put back on the page. A message whose store write committed as
// the lock came, or a photo whose read was under way, finished after the views were emptied and
// was published to them anyway: a text back in the chat's signal, a decrypted photo as a live
// object URL that nothing revoked — in memory for as long as the page lived, locked.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StoredMessage } from '../../outbox/records.ts';
import type { StoredPeer } from '../../secure/records.ts';
import type { Storage } from '../../storage/storage.ts';
import { makeSinks } from '../../test/sinks.ts';
import { ChatMemory, type PeerSource } from './chat-memory.ts';
import { PhotoLoader } from './photos.ts';
import type { ReadMarks } from './read-marks.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

const bob: StoredPeer = {
  chatId: 'c1',
  username: 'bob',
  addedAt: 1,
  identityKey: new Uint8Array(32),
  verified: false,
  keyChanged: false,
  pendingIdentityKey: null,
};
const peers = { knownPeer: () => bob, knownPeers: () => [bob] } as unknown as PeerSource;
const marks = { get: () => undefined } as unknown as ReadMarks;
const text = (id: string, t: string): StoredMessage => ({
  id,
  contact: 'bob',
  direction: 'in',
  at: 1,
  order: 1,
  storedAt: 1,
  state: 'received',
  body: { kind: 'text', text: t },
});

describe('nothing decrypted reaches the views after the lock', () => {
  it('attack: a message stored as the app locked is not published after the lock', () => {
    const sinks = makeSinks();
    const memory = new ChatMemory(sinks, peers, marks);
    memory.upsert(text('m1', 'before the lock'));
    expect(sinks.messages('bob').value).toHaveLength(1);
    memory.stop();
    // The app empties the views (clearViews); then the write that was under way finishes.
    sinks.messages('bob').value = [];
    sinks.chats.value = [];
    memory.upsert(text('m2', 'stored as it locked'));
    memory.showPeer(bob);
    expect(sinks.messages('bob').value).toEqual([]);
    expect(sinks.chats.value).toEqual([]);
  });

  it('attack: a photo whose read was under way when the app locked is not published, no object URL made', async () => {
    const sinks = makeSinks();
    let release: (v: { mime: string; bytes: Uint8Array }) => void = () => undefined;
    const storage = {
      get: () =>
        new Promise((resolve) => {
          release = resolve;
        }),
    } as unknown as Storage;
    const made = vi.spyOn(URL, 'createObjectURL');
    const loader = new PhotoLoader({
      storage,
      api: {} as never,
      sinks,
      memory: new ChatMemory(sinks, peers, marks),
      acks: {} as never,
    });
    const loading = loader.load('m1');
    loader.stop();
    sinks.photo('m1').value = { status: 'idle', progress: 0, url: null };
    release({ mime: 'image/png', bytes: new Uint8Array([1, 2, 3]) });
    await loading;
    expect(made).not.toHaveBeenCalled();
    expect(sinks.photo('m1').value).toEqual({ status: 'idle', progress: 0, url: null });
  });
});
