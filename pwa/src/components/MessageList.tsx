// The chat history as a virtualized list: only the rows near the viewport are in the DOM, so a
// chat with thousands of messages opens and scrolls as fast as one with ten. Rows have
// different heights (text length, photos), measured after render by the virtualizer.
// Positions are set through React's `style` prop, i.e. the CSSOM, which the CSP allows
// (unlike style attributes in markup).
import { useSignals } from '@preact/signals-react/runtime';
import { measureElement, observeElementRect, useVirtualizer } from '@tanstack/react-virtual';
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
/** Row height guesses before measurement (a one-line bubble, a day separator). */
const MESSAGE_ROW_PX = 72;
const DAY_ROW_PX = 36;
const FALLBACK_VIEWPORT_PX = 640;

export function MessageList({ messages, locale, contact }: Props) {
  useSignals();
  const scrollRef = useRef<HTMLDivElement>(null);
  const rows = useMemo(() => withDaySeparators(messages), [messages]);
  const atBottom = useRef(true);

  const estimate = (i: number) => (rows[i]?.kind === 'day' ? DAY_ROW_PX : MESSAGE_ROW_PX);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: estimate,
    getItemKey: (i) => rows[i]?.key ?? i,
    overscan: 8,
    // A scroller without layout yet (hidden, or a DOM without layout) reports 0×0; treat it as
    // a phone-sized viewport rather than rendering nothing.
    observeElementRect: (instance, cb) =>
      observeElementRect(instance, (rect) =>
        cb(rect.height > 0 ? rect : { width: rect.width, height: FALLBACK_VIEWPORT_PX }),
      ),
    // Every real row has height (padding at least); 0 means "not laid out", so keep the estimate
    // instead of collapsing the row and pulling every message into the DOM.
    measureElement: (el, entry, instance) => {
      const size = measureElement(el, entry, instance);
      return size > 0 ? size : estimate(Number((el as HTMLElement).dataset.index));
    },
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
