// The chat history as a virtualized list: only the rows near the viewport are in the DOM, so a
// chat with thousands of messages opens and scrolls as fast as one with ten. Rows have
// different heights (text length, photos), measured after render by the virtualizer.
// Positions are set through React's `style` prop, i.e. the CSSOM, which the CSP allows
// (unlike style attributes in markup).
import { useSignals } from '@preact/signals-react/runtime';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef } from 'react';
import { t } from '../i18n/i18n.ts';
import type { ChatMessage } from '../state/types.ts';
import { dayLabel, withDaySeparators } from './dates.ts';
import { MessageBubble } from './MessageBubble.tsx';

interface Props {
  messages: readonly ChatMessage[];
  locale: string;
  contact: string;
}

/** How close to the bottom (px) still counts as "reading the newest messages". */
const STICK_TO_BOTTOM_PX = 120;

export function MessageList({ messages, locale, contact }: Props) {
  useSignals();
  const scrollRef = useRef<HTMLDivElement>(null);
  const rows = useMemo(() => withDaySeparators(messages), [messages]);
  const atBottom = useRef(true);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => (rows[i]?.kind === 'day' ? 36 : 72),
    getItemKey: (i) => rows[i]?.key ?? i,
    overscan: 8,
    // Before the first measurement (and in layout-less test DOMs) assume a phone-sized viewport.
    initialRect: { width: 360, height: typeof window === 'undefined' ? 640 : window.innerHeight || 640 },
  });

  // Open at the newest message; follow new messages only if the user is already at the bottom.
  const lastKey = rows[rows.length - 1]?.key;
  // biome-ignore lint/correctness/useExhaustiveDependencies: react to a new last row only
  useEffect(() => {
    if (rows.length > 0 && atBottom.current) virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
  }, [lastKey]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_TO_BOTTOM_PX;
  };

  if (rows.length === 0) {
    return (
      <div className="message-scroller">
        <p className="empty">{t('chat.empty', { contact })}</p>
      </div>
    );
  }

  return (
    <section
      ref={scrollRef}
      className="message-scroller"
      onScroll={onScroll}
      aria-label={t('chat.history', { contact })}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable to scroll by keyboard (WCAG 2.1.1)
      tabIndex={0}
    >
      <div className="message-canvas" style={{ height: `${virtualizer.getTotalSize()}px` }}>
        {virtualizer.getVirtualItems().map((item) => {
          const row = rows[item.index];
          if (!row) return null;
          return (
            <div
              key={item.key}
              data-index={item.index}
              ref={virtualizer.measureElement}
              className="message-row"
              style={{ transform: `translateY(${item.start}px)` }}
            >
              {row.kind === 'day' ? (
                <h2 className="day-separator">{dayLabel(row.at, locale)}</h2>
              ) : (
                <MessageBubble message={row.message} locale={locale} />
              )}
            </div>
          );
        })}
      </div>
    </section>
  );
}
