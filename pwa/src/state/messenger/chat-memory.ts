// The chats as the views see them: each contact's latest messages in memory (all stay in
// storage), upload progress, and publishing contacts, the chat list and each chat's messages
// to the sinks whenever one of them changes.
import { isKnownMessage, type StoredMessage } from '../../outbox/records.ts';
import type { StoredPeer } from '../../secure/records.ts';
import type { SessionManager } from '../../secure/session-manager.ts';
import { AppError } from '../errors.ts';
import { compareForDisplay, sortChats, summarise, toChatMessage, toContact } from '../projection.ts';
import type { ReadMarks } from './read-marks.ts';
import type { MessengerSinks } from './sinks.ts';

/** Messages per chat kept in memory for the views (all stay in storage). */
export const MESSAGES_IN_MEMORY = 5000;

/**
 * The chat's timeline entry for the key change `peer` is flagged with ("alice's security key
 * changed — 12:03"), stored with the flag and kept in history (SECURITY.md, "Trust model").
 */
export function keyChangeEntry(peer: StoredPeer): StoredMessage | null {
  if (!peer.keyChanged || peer.keyChangedAt === undefined) return null;
  return keyTimelineEntry(peer, 'keychange', peer.keyChangedAt);
}

/**
 * The chat's timeline entry for a refused key change: the user kept `peer`'s trusted key at `at`
 * ("You kept alice's verified security key and refused a new one — 12:05").
 */
export function keyRefusedEntry(peer: StoredPeer, at: number): StoredMessage {
  return keyTimelineEntry(peer, 'keyrefused', at);
}

/**
 * The chat's timeline entry for a contact that the account's contact list made one here at `at`:
 * a message request it accepted, or (`added`) a user this device did not know (SECURITY.md,
 * "Blocking": the list is the relay's word, so the user must be able to see that it happened).
 */
export function acceptedElsewhereEntry(peer: StoredPeer, at: number, added: boolean): StoredMessage {
  return {
    id: `${added ? 'added' : 'accepted'}:${peer.chatId}:${at}`,
    contact: peer.username,
    direction: 'in',
    at,
    storedAt: at,
    state: 'received',
    body: added ? { kind: 'acceptedElsewhere', added: true } : { kind: 'acceptedElsewhere' },
  };
}

function keyTimelineEntry(peer: StoredPeer, kind: 'keychange' | 'keyrefused', at: number): StoredMessage {
  return {
    id: `${kind}:${peer.chatId}:${at}`,
    contact: peer.username,
    direction: 'in',
    at,
    storedAt: at,
    state: 'received',
    body: kind === 'keyrefused' ? { kind: 'keyChange', refused: true } : { kind: 'keyChange' },
  };
}

/** Where the peer records are read: the session manager owns them (session-manager.ts). */
export type PeerSource = Pick<SessionManager, 'knownPeer' | 'knownPeers'>;

export class ChatMemory {
  private readonly history = new Map<string, StoredMessage[]>();
  private readonly progress = new Map<string, number>();
  /** The messenger stopped (the app locked or closed the session): nothing is published again. */
  private stopped = false;

  constructor(
    private readonly sinks: MessengerSinks,
    private readonly peers: PeerSource,
    private readonly readMarks: ReadMarks,
  ) {}

  /** A chat's stored messages, put in memory at load. */
  /**
   * The chat's stored history. Here and in upsert, a row of a kind this build does not know (a
   * later build's, after a rollback) stays out of memory, so nothing shows or counts it.
   */
  setHistory(contact: string, messages: StoredMessage[]): void {
    this.history.set(contact, messages.filter(isKnownMessage));
  }

  requirePeer(contact: string): StoredPeer {
    const peer = this.peers.knownPeer(contact);
    if (!peer) throw new AppError('not_found');
    return peer;
  }

  /** A peer record changed (added, flagged, accepted, verified): republish. */
  showPeer(peer: StoredPeer): void {
    // A newly seen key change: its stored timeline entry joins the history in memory too.
    const entry = keyChangeEntry(peer);
    if (entry && !(this.history.get(peer.username) ?? []).some((m) => m.id === entry.id)) this.upsert(entry);
    this.publishContacts();
    this.publishChats();
  }

  /** A contact removed here: its chat leaves memory. */
  forget(contact: string): void {
    this.history.delete(contact);
    this.publishMessages(contact);
    this.publishContacts();
    this.publishChats();
  }

  /** A message or entry of `contact`'s chat in memory (its latest MESSAGES_IN_MEMORY) that `pred` holds for. */
  find(contact: string, pred: (m: StoredMessage) => boolean): StoredMessage | undefined {
    return this.history.get(contact)?.find(pred);
  }

  /** Inserts or replaces a message in memory and republishes its chat. */
  upsert(m: StoredMessage): void {
    if (!isKnownMessage(m)) return;
    const list = this.history.get(m.contact) ?? [];
    const i = list.findIndex((x) => x.id === m.id);
    if (i >= 0) list[i] = m;
    else list.push(m);
    if (list.length > MESSAGES_IN_MEMORY) list.splice(0, list.length - MESSAGES_IN_MEMORY);
    this.history.set(m.contact, list);
    this.publishMessages(m.contact);
    this.publishChats();
  }

  /** An upload's progress (0..1), shown on its message; undefined when it ends. */
  setProgress(id: string, contact: string, fraction: number | undefined): void {
    if (fraction === undefined) this.progress.delete(id);
    else this.progress.set(id, fraction);
    this.publishMessages(contact);
  }

  /**
   * The messenger stopped (app lock, log out, another tab): the texts leave this memory, and a
   * write that was under way when the app emptied its views puts nothing back on them.
   */
  stop(): void {
    this.stopped = true;
    this.history.clear();
    this.progress.clear();
  }

  publishAll(): void {
    this.publishContacts();
    for (const peer of this.peers.knownPeers()) this.publishMessages(peer.username);
    this.publishChats();
  }

  publishContacts(): void {
    if (this.stopped) return;
    this.sinks.contacts.value = [...this.peers.knownPeers()]
      .map(toContact)
      .sort((a, b) => a.username.localeCompare(b.username));
  }

  publishChats(): void {
    if (this.stopped) return;
    const chats = [...this.peers.knownPeers()].map((p) =>
      summarise(p, this.history.get(p.username) ?? [], this.readMarks.get(p.username)),
    );
    this.sinks.chats.value = sortChats(chats, (c) => this.peers.knownPeer(c)?.addedAt ?? 0);
  }

  publishMessages(contact: string): void {
    if (this.stopped) return;
    const list = this.history.get(contact) ?? [];
    this.sinks.messages(contact).value = [...list]
      .sort(compareForDisplay)
      .map((m) => toChatMessage(m, this.progress.get(m.id)));
  }
}
