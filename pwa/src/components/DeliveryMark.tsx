import type { ComponentType } from 'react';
import type { MessageKey } from '../i18n/i18n.ts';
import { useT } from '../state/context.tsx';
import type { ChatMessage } from '../state/types.ts';
import { DeliveredIcon, FailedIcon, QueuedIcon, SendingIcon, SentIcon } from './icons.tsx';

const MARKS: Record<ChatMessage['state'], { Icon: ComponentType | null; key: MessageKey }> = {
  queued: { Icon: QueuedIcon, key: 'delivery.queued' },
  sending: { Icon: SendingIcon, key: 'delivery.sending' },
  sent: { Icon: SentIcon, key: 'delivery.sent' },
  delivered: { Icon: DeliveredIcon, key: 'delivery.delivered' },
  failed: { Icon: FailedIcon, key: 'delivery.failed' },
  received: { Icon: null, key: 'delivery.received' },
};

/** The delivery state of an outgoing message: an icon for the eye, words for everyone. */
export function DeliveryMark({ message }: { message: ChatMessage }) {
  const t = useT();
  if (message.direction === 'in') return null;
  const mark = MARKS[message.state];
  const label =
    message.state === 'failed' && message.error === 'cancelled' ? t('delivery.cancelled') : t(mark.key);
  return (
    <span className={`delivery delivery-${message.state}`} title={label}>
      {mark.Icon && <mark.Icon />}
      <span className="sr-only">{label}</span>
    </span>
  );
}
