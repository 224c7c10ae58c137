import type { MessageKey } from '../i18n/i18n.ts';
import { t } from '../i18n/i18n.ts';
import type { ChatMessage } from '../state/types.ts';

const MARKS: Record<ChatMessage['state'], { icon: string; key: MessageKey }> = {
  queued: { icon: '🕓', key: 'delivery.queued' },
  sending: { icon: '…', key: 'delivery.sending' },
  sent: { icon: '✓', key: 'delivery.sent' },
  delivered: { icon: '✓✓', key: 'delivery.delivered' },
  failed: { icon: '!', key: 'delivery.failed' },
  received: { icon: '', key: 'delivery.received' },
};

/** The delivery state of an outgoing message: an icon for the eye, words for everyone. */
export function DeliveryMark({ message }: { message: ChatMessage }) {
  if (message.direction === 'in') return null;
  const mark = MARKS[message.state];
  const label =
    message.state === 'failed' && message.error === 'cancelled' ? t('delivery.cancelled') : t(mark.key);
  return (
    <span className={`delivery delivery-${message.state}`} title={label}>
      <span aria-hidden="true">{mark.icon}</span>
      <span className="sr-only">{label}</span>
    </span>
  );
}
