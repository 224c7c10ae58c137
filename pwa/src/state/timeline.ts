// Timeline entries: what a chat shows between its messages that is not a message — no bubble,
// no unread count, no announcement, never carried to a linked device (spec/protocol.md §16.8
// transfers messages only). One rule for every place that must tell them apart.
import type { StoredMessage } from '../outbox/records.ts';
import type { ChatMessage } from './types.ts';

type Body = ChatMessage['body'] | StoredMessage['body'];

/**
 * The kinds of timeline entries: a key change (or refusal), copies that expired unread, and a
 * message request accepted on another device.
 */
export type TimelineKind = 'keyChange' | 'expired' | 'acceptedElsewhere';

export function isTimelineBody<B extends Body>(body: B): body is Extract<B, { kind: TimelineKind }> {
  return body.kind === 'keyChange' || body.kind === 'expired' || body.kind === 'acceptedElsewhere';
}
