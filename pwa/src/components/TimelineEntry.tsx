import { useT } from '../state/context.tsx';
import type { ChatMessage } from '../state/types.ts';
import { dateTimeLabel, timeLabel } from './dates.ts';

/**
 * A timeline entry of a chat, in the live chat and in an archive alike: the contact's key changed,
 * or the user refused a change and kept the verified key (SECURITY.md, "Trust model"); or
 * messages from the contact expired on the relay before this device received them
 * (spec/openapi.yaml GET /ws, `expired`); or a message request, or a user not known here, became a
 * contact because the account's contact list names them (SECURITY.md, "Blocking").
 */
export function TimelineEntry({ message, locale }: { message: ChatMessage; locale: string }) {
  const t = useT();
  const body = message.body;
  if (body.kind === 'expired')
    return (
      <p className="timeline-entry">
        {t(body.firstSentAt === body.lastSentAt ? 'expired.timelineOne' : 'expired.timeline', {
          count: body.count,
          contact: message.contact,
          first: dateTimeLabel(body.firstSentAt, locale),
          last: dateTimeLabel(body.lastSentAt, locale),
        })}
      </p>
    );
  if (body.kind === 'acceptedElsewhere')
    return (
      <p className="timeline-entry">
        {t(body.added ? 'request.addedElsewhere' : 'request.acceptedElsewhere', {
          contact: message.contact,
          time: timeLabel(message.at, locale),
        })}
      </p>
    );
  const refused = body.kind === 'keyChange' && body.refused === true;
  return (
    <p className="timeline-entry">
      {t(refused ? 'keyChange.refusedTimeline' : 'keyChange.timeline', {
        contact: message.contact,
        time: timeLabel(message.at, locale),
      })}
    </p>
  );
}
