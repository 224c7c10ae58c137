import { describe, expect, it } from 'vitest';
import { dayKey, dayLabel, listTimeLabel, withDaySeparators } from './dates.ts';

const now = new Date('2026-11-25T15:00:00').getTime();
const H = 3_600_000;

describe('day labels', () => {
  it('says today / yesterday in the UI language, capitalized', () => {
    expect(dayLabel(now - H, 'en', now)).toBe('Today');
    expect(dayLabel(now - 24 * H, 'en', now)).toBe('Yesterday');
    expect(dayLabel(now - H, 'ru', now)).toBe('Сегодня');
    expect(dayLabel(now - 24 * H, 'ru', now)).toBe('Вчера');
  });

  it('spells older dates with the month name, the year only when it differs', () => {
    expect(dayLabel(new Date('2026-03-08T10:00:00').getTime(), 'en', now)).toBe('March 8');
    expect(dayLabel(new Date('2026-03-08T10:00:00').getTime(), 'ru', now)).toBe('8 марта');
    expect(dayLabel(new Date('2025-03-08T10:00:00').getTime(), 'ru', now)).toMatch(/^8 марта 2025/);
  });

  it('chat-list time is the clock today and a short date before', () => {
    expect(listTimeLabel(now - H, 'ru', now)).toBe('14:00');
    expect(listTimeLabel(now - 48 * H, 'en', now)).toMatch(/^Nov 23$/);
  });
});

describe('withDaySeparators', () => {
  it('puts one separator before the first message of each local day', () => {
    const day1 = new Date('2026-11-24T23:50:00').getTime();
    const msgs = [
      { id: 'a', at: day1 },
      { id: 'b', at: day1 + 5 * 60_000 },
      { id: 'c', at: day1 + 20 * 60_000 },
    ];
    const rows = withDaySeparators(msgs);
    expect(rows.map((r) => r.kind)).toEqual(['day', 'message', 'message', 'day', 'message']);
    expect(rows[0]?.key).toBe(`day-${dayKey(day1)}`);
    expect(rows[3]?.key).toBe('day-2026-11-25');
  });
});
