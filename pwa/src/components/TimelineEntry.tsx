import { useT } from '../state/context.tsx';
import type { ChatMessage } from '../state/types.ts';
import { timeLabel } from './dates.ts';

/**
 * A timeline entry of a chat, in the live chat and in an archive alike: the contact's key changed,
 * or the user refused a change and kept the verified key (SECURITY.md, "Trust model").
 */
export function TimelineEntry({ message, locale }: { message: ChatMessage; locale: string }) {
  const t = useT();
  const refused = message.body.kind === 'keyChange' && message.body.refused === true;
  return (
    <p className="timeline-entry">
      {t(refused ? 'keyChange.refusedTimeline' : 'keyChange.timeline', {
        contact: message.contact,
        time: timeLabel(message.at, locale),
      })}
    </p>
  );
}
