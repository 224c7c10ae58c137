import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { useApp, useT } from '../state/context.tsx';
import { isTimelineBody } from '../state/timeline.ts';
import type { AppErrorCode, ChatMessage } from '../state/types.ts';
import { DeliveryMark } from './DeliveryMark.tsx';
import { timeLabel } from './dates.ts';
import { PhotoMessage } from './PhotoMessage.tsx';
import { TimelineEntry } from './TimelineEntry.tsx';

/**
 * One message. Text is rendered as a React text node — never as HTML — so markup typed by a
 * contact shows as the characters it is made of.
 */

/**
 * Why a queued message waits, shown under it when it is not the network (the connection status
 * says that) nor a key change (the composer says that): the relay's rate limit, or the
 * recipient's mailbox full (outbox.ts sends it again by itself).
 */
const WAITING_REASONS: ReadonlySet<AppErrorCode> = new Set(['mailbox_full', 'rate_limited']);
export function MessageBubble({ message, locale }: { message: ChatMessage; locale: string }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const [retrying, setRetrying] = useState(false);
  const mine = message.direction === 'out';
  const retry = async () => {
    setRetrying(true);
    try {
      await app.retry(message.id);
    } catch {
      // The message stays 'failed' and keeps its retry button; its error shows on it.
    } finally {
      setRetrying(false);
    }
  };

  if (isTimelineBody(message.body)) return <TimelineEntry message={message} locale={locale} />;

  return (
    <div className={mine ? 'bubble bubble-mine' : 'bubble'}>
      <span className="sr-only">
        {mine ? t('message.you') : t('message.from', { contact: message.contact })}
      </span>
      {message.body.kind === 'text' ? (
        <p className="bubble-text">{message.body.text}</p>
      ) : (
        <PhotoMessage message={message} />
      )}
      <div className="bubble-meta">
        <time
          dateTime={new Date(message.at).toISOString()}
          title={
            message.receivedAt === undefined
              ? undefined
              : t('message.receivedAt', {
                  sent: new Date(message.at).toLocaleString(locale),
                  received: new Date(message.receivedAt).toLocaleString(locale),
                })
          }
        >
          {timeLabel(message.at, locale)}
        </time>
        <DeliveryMark message={message} />
      </div>
      {message.state === 'queued' && message.error && WAITING_REASONS.has(message.error) && (
        <p className="delivery-waiting">{t(`error.${message.error}`)}</p>
      )}
      {message.state === 'failed' && (
        <div className="actions">
          {message.error && message.error !== 'cancelled' && (
            <span className="delivery-failed">{t(`error.${message.error}`)}</span>
          )}
          <button type="button" className="button" onClick={retry} disabled={retrying}>
            {t('message.retry')}
          </button>
        </div>
      )}
    </div>
  );
}
