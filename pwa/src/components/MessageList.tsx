// The chat history as a virtualized list: only the rows near the viewport are in the DOM, so a
// chat with thousands of messages opens and scrolls as fast as one with ten. Rows have
// different heights (text length, photos), measured after render by the virtualizer.
// Positions are set through React's `style` prop, i.e. the CSSOM, which the CSP allows
// (unlike style attributes in markup).
import { useSignals } from '@preact/signals-react/runtime';
import { measureElement, observeElementRect, useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useT } from '../state/context.tsx';
import type { ChatMessage } from '../state/types.ts';
import { dayLabel, withDaySeparators } from './dates.ts';
import { ScrollDownIcon } from './icons.tsx';
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
  const t = useT();
  const scrollRef = useRef<HTMLElement>(null);
  const rows = useMemo(() => withDaySeparators(messages), [messages]);
  // Whether the user is reading the newest messages: then the view stays pinned to the bottom
  // through new messages and rows that change height; once they scroll up it stays put and the
  // "new messages" button offers the way back.
  const atBottom = useRef(true);
  const [scrolledUp, setScrolledUp] = useState(false);
  const [unseen, setUnseen] = useState(0);
  const seenCount = useRef(messages.length);

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

  const toBottom = () => {
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  };

  // A new last row: follow it when the user is at the bottom, else count it as unseen.
  const lastKey = rows[rows.length - 1]?.key;
  // biome-ignore lint/correctness/useExhaustiveDependencies: react to a new last row only
  useLayoutEffect(() => {
    const added = messages.length - seenCount.current;
    seenCount.current = messages.length;
    if (atBottom.current) toBottom();
    else if (added > 0) setUnseen((n) => n + added);
  }, [lastKey]);

  // Rows measured (a photo row is taller than the estimate) or resized: stay at the bottom.
  const total = virtualizer.getTotalSize();
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-pin whenever the content height changes
  useLayoutEffect(() => {
    if (atBottom.current) toBottom();
  }, [total]);

  // The scroller itself resized (the composer grew, the on-screen keyboard, rotation).
  const hasRows = rows.length > 0;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the scroller exists only while there are rows
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current) toBottom();
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [hasRows]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_TO_BOTTOM_PX;
    atBottom.current = bottom;
    setScrolledUp(!bottom);
    if (bottom) setUnseen(0);
  };

  if (rows.length === 0) {
    return (
      <div className="message-scroller">
        <p className="empty">{t('chat.empty', { contact })}</p>
      </div>
    );
  }

  return (
    <div className="message-list">
      <section
        ref={scrollRef}
        className="message-scroller"
        onScroll={onScroll}
        aria-label={t('chat.history', { contact })}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable to scroll by keyboard (WCAG 2.1.1)
        tabIndex={0}
      >
        <div className="message-canvas" style={{ height: `${total}px` }}>
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
      {scrolledUp && (
        <button
          type="button"
          className="button to-latest"
          onClick={() => {
            atBottom.current = true;
            setScrolledUp(false);
            setUnseen(0);
            toBottom();
          }}
        >
          {unseen > 0 ? t('chat.newMessages', { count: unseen }) : t('chat.toLatest')}
          <ScrollDownIcon />
        </button>
      )}
    </div>
  );
}
