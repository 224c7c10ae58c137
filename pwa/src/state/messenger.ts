// The signed-in half of the app: one Messenger per unlocked account. It joins the layers —
// encrypted storage, the secure session manager, the outbox, the relay API and socket, the
// photo pipeline — and publishes what views read through the sinks it is given. Each concern
// has its file in ./messenger/: the incoming stream (incoming.ts), acknowledgement batching
// (acks.ts), outbox scheduling (outgoing.ts), photo loading (photos.ts), read marks
// (read-marks.ts), the chats in memory and their publishing (chat-memory.ts), prekey upkeep
// (prekey-upkeep.ts) and the own-identity warning (own-identity.ts).
import type { Outbox } from '../outbox/outbox.ts';
import { RECORD as OUTBOX, type StoredMessage } from '../outbox/records.ts';
import { loadDeviceId } from '../secure/account-keys.ts';
import { KeyedMutex } from '../secure/mutex.ts';
import { RECORD as SECURE } from '../secure/records.ts';
import { SessionManager } from '../secure/session-manager.ts';
import type { Storage } from '../storage/storage.ts';
import type { RelayApi } from '../transport/api.ts';
import { SocketFirst } from '../transport/socket-first.ts';
import { RelaySocket, type SocketStatus } from '../transport/ws.ts';
import { toAppErrorCode } from './error-map.ts';
import { AppError } from './errors.ts';
import { AckBatcher } from './messenger/acks.ts';
import {
  acceptedElsewhereEntry,
  ChatMemory,
  keyChangeEntry,
  keyRefusedEntry,
  MESSAGES_IN_MEMORY,
} from './messenger/chat-memory.ts';
import { IncomingStream } from './messenger/incoming.ts';
import { ListsRefresh } from './messenger/lists-refresh.ts';
import { Outgoing, type OutgoingOptions } from './messenger/outgoing.ts';
import { OwnIdentityWatch } from './messenger/own-identity.ts';
import { PhotoLoader } from './messenger/photos.ts';
import { PrekeyUpkeep } from './messenger/prekey-upkeep.ts';
import { ReadMarks } from './messenger/read-marks.ts';
import type { MessengerSinks } from './messenger/sinks.ts';
import type { AppNotice } from './types.ts';

export type { MessengerSinks } from './messenger/sinks.ts';

export interface MessengerOptions {
  readonly username: string;
  readonly storage: Storage;
  readonly api: RelayApi;
  readonly sinks: MessengerSinks;
  readonly wsUrl: string;
  /** The relay refused our session for good (logged out elsewhere). */
  readonly onSessionEnded: () => void;
  /** Something to tell the user once (stored until dismissed; AppNotice). */
  readonly onNotice: (n: AppNotice) => Promise<void>;
  /** The device clock (ms); tests drive prekey rotation with it. */
  readonly clock?: () => number;
  /** Replaces the resumable photo upload (tests in Node, which has no tus transport). */
  readonly uploadPhoto?: OutgoingOptions['uploadPhoto'];
}

export class Messenger {
  readonly sm: SessionManager;
  readonly outbox: Outbox;
  private readonly readMarks: ReadMarks;
  private readonly memory: ChatMemory;
  private readonly acks: AckBatcher;
  private readonly incoming: IncomingStream;
  private readonly outgoing: Outgoing;
  private readonly photos: PhotoLoader;
  private readonly prekeys: PrekeyUpkeep;
  private readonly ownIdentity: OwnIdentityWatch;
  private socket: RelaySocket | null = null;
  /** The refresh started by the socket's 4401 close; the reconnect waits for its token. */
  private socketRefresh: Promise<unknown> | null = null;
  private stopped = false;
  private readonly contactLocks = new KeyedMutex();
  private readonly listsRefresh = new ListsRefresh(() => this.applyContactLists());
  private readonly clock: () => number;

  constructor(private readonly o: MessengerOptions) {
    const clock = o.clock ?? Date.now;
    this.clock = clock;
    const { storage, api, sinks } = o;
    this.sm = new SessionManager(storage, api, {
      clock,
      onKeyChange: (peer) => {
        const entry = keyChangeEntry(peer);
        return entry ? [{ kind: 'putMessage', chat: peer.chatId, id: entry.id, value: entry }] : [];
      },
      // The lists may name them as blocked (a sync copy from a device that had not heard of a
      // block made here, or a copy the relay let through): the new chat is marked at once.
      onNewChat: () => this.listsRefresh.request(),
    });
    const sm = this.sm;
    this.readMarks = new ReadMarks(storage, clock);
    const memory = new ChatMemory(sinks, sm, this.readMarks);
    this.memory = memory;
    // Sends and acknowledgements take the socket while it is open and authenticated.
    const relay = new SocketFirst({ api, socket: () => this.socket });
    this.acks = new AckBatcher(relay);
    this.ownIdentity = new OwnIdentityWatch({
      username: o.username,
      storage,
      api,
      sink: sinks.ownIdentity,
      clock,
    });
    this.prekeys = new PrekeyUpkeep({
      sm,
      api,
      clock,
      mailboxFetched: async () => sinks.connection.value === 'online' && (await this.incoming.fetchedAll()),
    });
    this.incoming = new IncomingStream({
      storage,
      api,
      username: o.username,
      sm,
      memory,
      acks: this.acks,
      clock,
      onIdentityReplaced: (at) => this.ownIdentity.warn(at),
      onPrekeysLow: () => this.prekeys.topUp(),
      onContactsChanged: () => this.listsRefresh.request(),
      onOwnExpired: () => o.onNotice('sync_expired'),
      onLocalFailure: (failures) => this.socket?.restart(failures),
    });
    this.outgoing = new Outgoing({
      storage,
      api,
      relay,
      sm,
      memory,
      clock,
      ...(o.uploadPhoto ? { uploadPhoto: o.uploadPhoto } : {}),
    });
    this.outbox = this.outgoing.outbox;
    this.photos = new PhotoLoader({ storage, api, sinks, memory, acks: this.acks });
  }

  // ── loading ─────────────────────────────────────────────────────────────────────────

  async load(): Promise<void> {
    await this.incoming.load();
    await this.outgoing.load();
    for (const peer of await this.sm.loadPeers()) {
      const rows = await this.o.storage.messages<StoredMessage>(peer.chatId, MESSAGES_IN_MEMORY);
      this.memory.setHistory(
        peer.username,
        rows.map((r) => r.value),
      );
      await this.readMarks.load(peer);
    }
    this.memory.publishAll();
    await this.ownIdentity.load();
  }

  dismissOwnIdentityWarning(): Promise<void> {
    return this.ownIdentity.dismiss();
  }

  checkOwnIdentity(): Promise<void> {
    return this.ownIdentity.check();
  }

  // ── connection ──────────────────────────────────────────────────────────────────────

  /** Connects the socket and sends what waits in the outbox. */
  goOnline(): void {
    if (this.stopped) return;
    if (!this.socket) {
      this.socket = new RelaySocket({
        url: this.o.wsUrl,
        token: async () => {
          const http = this.o.api.http;
          // After a 4401 the token held is the refused one: wait for its replacement.
          if (this.socketRefresh) await this.socketRefresh.catch(() => undefined);
          if (!http.accessToken) await http.refreshTokens();
          return http.accessToken;
        },
        cursor: () => this.incoming.position,
        onFrame: (f) => this.incoming.enqueue(f),
        onStatus: (s: SocketStatus) => {
          this.o.sinks.connection.value = s;
          if (s === 'online') {
            void this.checkOwnIdentity().catch(() => undefined);
            void this.learnDeviceId().catch(() => undefined);
            void this.outgoing.flush();
            void this.syncContacts();
            void this.maintainPrekeys();
          }
        },
        onAuthFailed: () => {
          // An expired access token — refused at authentication, or expired under the open socket
          // (the relay closes it with 4401, spec/openapi.yaml GET /ws): refresh (which ends the
          // session if the relay refuses). Requests the close caught were made over HTTP with
          // their client_id (transport/socket-first.ts), so none is lost or stored twice.
          const refresh = this.o.api.http.refreshTokens().catch((err: unknown) => {
            // Stopped meanwhile (the page closed the session itself: logout, erase, lock): not
            // the relay ending it.
            if (toAppErrorCode(err) === 'unauthorized' && !this.stopped) this.o.onSessionEnded();
          });
          this.socketRefresh = refresh;
          void refresh.finally(() => {
            if (this.socketRefresh === refresh) this.socketRefresh = null;
          });
        },
      });
    }
    this.socket.start();
    this.socket.nudge();
    // The socket may have stayed up through a short outage; what waits is sent now.
    void this.outgoing.flush();
    // An overdue rotation or deletion happens now, network or not (uploads are retried).
    void this.maintainPrekeys();
  }

  stop(): void {
    this.stopped = true;
    this.incoming.stop();
    this.socket?.stop();
    this.socket = null;
    this.acks.stop();
    this.outgoing.stop();
    this.prekeys.stop();
    this.photos.stop();
    this.listsRefresh.stop();
    this.memory.stop();
  }

  /**
   * A store from before linked devices does not know its device id until its next login
   * (RESUME); the relay's device list names the current one (spec §16), so the sessions with
   * our own other devices never include this one.
   */
  private async learnDeviceId(): Promise<void> {
    if ((await loadDeviceId(this.o.storage)) !== undefined) return;
    const current = (await this.o.api.devices()).find((d) => d.current);
    if (current) await this.o.storage.put(SECURE.deviceId, current.deviceId);
  }

  /** On every connection: the account's lists (applyContactLists), then prekeys and acks. */
  async syncContacts(): Promise<void> {
    try {
      await this.applyContactLists();
      await this.prekeys.topUp();
      await this.incoming.acknowledgeStored();
    } catch {
      // Offline or refused: the next successful connection tries again.
    }
  }

  /**
   * The account's lists at the relay applied here (they are per account, spec/protocol.md
   * §16.4), on every connection and when another device changed them (a contacts_changed item,
   * spec/openapi.yaml GET /ws): contacts added elsewhere (or before this store existed) become
   * local peers. A chat with a user the block list names is marked blocked (sending off, no
   * receipts) and unmarked when the list no longer names them — never deleted: the lists are
   * the relay's word, and a relay must not be able to wipe a history from the account's devices
   * (SECURITY.md "Blocking"); only the user deletes one, on the device in hand. A message request
   * whose sender the contact list names was accepted, or added, on another device (or the first
   * message came before the list did): it becomes a contact here, and its chat says so (a
   * timeline entry). That is the relay's word too, so a relay listing a stranger accepts their
   * request, though not unseen (SECURITY.md "Blocking"); an end-to-end sync of the lists would
   * close that.
   */
  private applyContactLists(): Promise<void> {
    return this.contactList(async () => {
      const [contacts, blocks] = await Promise.all([this.o.api.contacts(), this.o.api.blocks()]);
      const blocked = new Set(blocks.map((b) => b.username));
      await this.sm.setListedBlocked(blocked);
      for (const peer of [...this.sm.knownPeers()]) {
        const listed = blocked.has(peer.username);
        if (listed === (peer.blocked === true)) continue;
        const marked = await this.sm.setBlocked(peer.username, listed);
        if (marked) this.memory.showPeer(marked);
        if (marked && !listed) void this.outgoing.flush();
      }
      for (const c of contacts) {
        // A blocked user is no contact, whatever the list says (a relay from before it refused
        // adding one kept such rows).
        if (blocked.has(c.username) || c.username === this.o.username) continue;
        const known = this.sm.knownPeer(c.username);
        if (known && !known.request) continue;
        // A contact the list makes here (a request it accepts, or a user not known here at all)
        // says so in its chat, in the same write.
        let entry: StoredMessage | undefined;
        const peer = await this.sm.addPeer(c.username, Date.parse(c.added_at), (added, how) => {
          entry = acceptedElsewhereEntry(added, this.clock(), how === 'created');
          return [{ kind: 'putMessage', chat: added.chatId, id: entry.id, value: entry }];
        });
        if (entry) this.memory.upsert(entry);
        this.memory.showPeer(peer);
      }
    });
  }

  /**
   * Changes of the contact list run one at a time, in every tab of this browser (Web Locks): a
   * sync that read the relay's lists before a contact was added or unblocked here must not
   * apply them after it.
   */
  private contactList<T>(task: () => Promise<T>): Promise<T> {
    return this.contactLocks.run('contact-list', task);
  }

  /** Prekey upkeep now, then planned (prekey-upkeep.ts). */
  maintainPrekeys(): Promise<void> {
    return this.prekeys.maintain();
  }

  // ── sending ─────────────────────────────────────────────────────────────────────────

  sendText(contact: string, text: string): Promise<string> {
    return this.outgoing.sendText(contact, text);
  }

  sendPhoto(contact: string, file: Blob): Promise<string> {
    return this.outgoing.sendPhoto(contact, file);
  }

  retry(id: string): Promise<void> {
    return this.outgoing.retry(id);
  }

  cancel(id: string): void {
    this.outgoing.cancel(id);
  }

  // ── reading ─────────────────────────────────────────────────────────────────────────

  /** Starts showing the photo of `messageId` (from the store, or downloaded and decrypted). */
  loadPhoto(messageId: string): Promise<void> {
    return this.photos.load(messageId);
  }

  markRead(contact: string): void {
    const peer = this.sm.knownPeer(contact);
    if (!peer) return;
    this.readMarks.mark(peer);
    this.memory.publishChats();
  }

  // ── contacts and safety ─────────────────────────────────────────────────────────────

  addContact(username: string): Promise<void> {
    return this.contactList(async () => {
      const added = await this.o.api.addContact(username);
      // The contact is the account asked for: the name it is kept under is the one bound into
      // every session with it (spec/protocol.md §5.4), which a relay's answer must not choose.
      if (added.username !== username) throw new AppError('unknown');
      this.memory.showPeer(await this.sm.addPeer(added.username, Date.parse(added.added_at) || Date.now()));
      this.memory.publishMessages(added.username);
    });
  }

  removeContact(username: string): Promise<void> {
    return this.contactList(async () => {
      // A message request was never in the relay's list: deleting it is this device's alone (and
      // so never refused by the relay's limit on list changes).
      if (!this.sm.knownPeer(username)?.request)
        // Not in the relay's list (not_found) is removed already: another device did it.
        await this.o.api.removeContact(username).catch((err: unknown) => {
          if (toAppErrorCode(err) !== 'not_found') throw err;
        });
      await this.forgetPeer(username);
    });
  }

  /**
   * Blocks `username` at the relay, then removes its chat here (a message request's "block"): the
   * user chose it on this device. The account's other devices keep theirs, marked blocked.
   */
  blockContact(username: string): Promise<void> {
    return this.contactList(async () => {
      // The relay removes them from the contacts with the block (spec/openapi.yaml POST /blocks).
      await this.o.api.block(username);
      await this.sm.noteBlock(username, true);
      await this.forgetPeer(username);
    });
  }

  /**
   * Unblocks `username` at the relay (not a contact there again: GET /blocks's rule). A chat
   * removed by this device's block is not restored; a chat kept here, marked blocked from
   * another device, is an open chat again.
   */
  unblock(username: string): Promise<void> {
    return this.contactList(async () => {
      // Not blocked at the relay (not_found) is unblocked already: another device did it.
      await this.o.api.unblock(username).catch((err: unknown) => {
        if (toAppErrorCode(err) !== 'not_found') throw err;
      });
      await this.sm.noteBlock(username, false);
      const peer = await this.sm.setBlocked(username, false);
      if (!peer) return;
      this.memory.showPeer(peer);
      // What was held for them goes now.
      void this.outgoing.flush();
    });
  }

  /**
   * The chat with `username`, its sessions and history, gone from this device, with what is kept
   * beside its messages: photo bytes (by message id), the read mark, what waits in the outbox.
   */
  private async forgetPeer(username: string): Promise<void> {
    // In the transaction that deletes the peer, so a failure half-way cannot leave a hidden
    // message in the outbox that a later contact with the same name would be sent.
    let chatId: string | undefined;
    try {
      await this.sm.removePeer(username, async (peer) => {
        chatId = peer.chatId;
        return [
          ...(await this.outgoing.forgetOps(username, peer.chatId)),
          ...(await this.o.storage.messages<StoredMessage>(peer.chatId))
            .filter((m) => m.value.body.kind === 'photo')
            .map((m) => ({ kind: 'delete' as const, key: OUTBOX.photo(m.value.id) })),
          { kind: 'delete', key: OUTBOX.chatMeta(peer.chatId) },
        ];
      });
    } catch (err) {
      // The chat is still here, and so is what waits in it.
      await this.outgoing.keep(username).catch(() => undefined);
      throw err;
    }
    // What was queued for it while the deletion ran (Outgoing.queue takes no lock).
    if (chatId) await this.outgoing.sweepChat(chatId);
    this.memory.forget(username);
  }

  /** Accepts the pending key unverified ('click' is refused for a contact verified before). */
  async acknowledgeKeyChange(contact: string, how: 'click' | 'without-verifying' = 'click'): Promise<void> {
    const reseal = await this.outgoing.resealOps(contact);
    this.memory.showPeer(await this.sm.acknowledgeKeyChange(contact, how, undefined, reseal));
    void this.outgoing.flush();
  }

  /** The scanned safety QR matched this pending key: accept it, verified. */
  async acceptScannedKey(contact: string, key: Uint8Array): Promise<void> {
    const reseal = await this.outgoing.resealOps(contact);
    this.memory.showPeer(await this.sm.acknowledgeKeyChange(contact, 'scanned', key, reseal));
    void this.outgoing.flush();
  }

  /**
   * The contact's screen showed the trusted key: keep it, refuse the pending one (both named, as
   * compared), with the refusal in the chat's history; messages held by the change go.
   */
  async refuseKeyChange(contact: string, trusted: Uint8Array, pending: Uint8Array): Promise<void> {
    const at = this.clock();
    const peer = await this.sm.refuseKeyChange(contact, trusted, pending, (p) => {
      const entry = keyRefusedEntry(p, at);
      return [{ kind: 'putMessage', chat: p.chatId, id: entry.id, value: entry }];
    });
    this.memory.upsert(keyRefusedEntry(peer, at));
    this.memory.showPeer(peer);
    void this.outgoing.flush();
  }

  /** The contact's screen showed a key the user had refused: trust it, verified. */
  async acceptRefusedKey(contact: string, key: Uint8Array): Promise<void> {
    this.memory.showPeer(await this.sm.acceptRefusedKey(contact, key));
    void this.outgoing.flush();
  }

  /**
   * The keys the safety screen compares (SessionManager.safetyKeys: ours, the contact's trusted
   * one and, during a key change, the pending one) and whether the contact is verified.
   */
  async safetyKeys(contact: string) {
    const keys = await this.sm.safetyKeys(contact);
    const peer = await this.sm.peer(contact);
    return { ...keys, verified: peer?.verified ?? false };
  }

  async setVerified(contact: string, verified: boolean): Promise<void> {
    this.memory.showPeer(await this.sm.setVerified(contact, verified));
  }
}
