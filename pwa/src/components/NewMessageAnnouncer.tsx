import { useEffect, useRef, useState } from 'react';
import { useT } from '../state/context.tsx';
import { isTimelineBody } from '../state/timeline.ts';
import type { ChatMessage } from '../state/types.ts';

/**
 * A polite live region that reads out messages arriving while the chat is open (not the
 * history already there when it opened).
 */
export function NewMessageAnnouncer({ messages }: { messages: readonly ChatMessage[] }) {
  const t = useT();
  const seen = useRef<string | null | undefined>(undefined);
  const [announcement, setAnnouncement] = useState('');
  const last = messages[messages.length - 1];

  useEffect(() => {
    if (seen.current === undefined) {
      seen.current = last?.id ?? null;
      return;
    }
    if (!last || last.id === seen.current) return;
    seen.current = last.id;
    // A key change has its banner; an expired entry is no message to read out.
    if (last.direction !== 'in' || isTimelineBody(last.body)) return;
    const body = last.body.kind === 'text' ? last.body.text : t('chats.photo');
    setAnnouncement(t('chat.newMessage', { contact: last.contact, text: body }));
  }, [last, t]);

  return (
    <div className="sr-only" aria-live="polite" aria-atomic="true">
      {announcement}
    </div>
  );
}
