// Validation messages (src/http/validate.ts) name fields and rules, never text the client chose:
// neither values nor unknown field names nor record keys, and they stay short.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpError } from '../src/http/http-error.js';
import { parse } from '../src/http/validate.js';

const messageOf = (schema: z.ZodType, value: unknown): string => {
  try {
    parse(schema, value);
  } catch (err) {
    if (err instanceof HttpError) return err.message;
    throw err;
  }
  throw new Error('parsed');
};

describe('validation messages', () => {
  it('name the field, not what was sent in it or beside it', () => {
    const schema = z.strictObject({ code: z.string().regex(/^\d{6}$/), items: z.array(z.number()) });
    const text = messageOf(schema, { code: 'SECRET-123456', items: [1, 'SECRET-7'], SECRET_FIELD_999999: 1 });
    expect(text).not.toMatch(/SECRET/);
    expect(text).toMatch(/code:/);
    expect(text).toMatch(/items\.1:/);
    expect(text).toMatch(/1 unknown field/);
  });

  it('show a record’s keys, which the client chose, as …', () => {
    const schema = z.strictObject({ by_id: z.record(z.string(), z.number()) });
    const text = messageOf(schema, { by_id: { '483920': 'x', 'SECRET-token': 'y' } });
    expect(text).not.toMatch(/483920|SECRET/);
    expect(text).toMatch(/by_id\.…/);
  });

  it('stay short whatever was sent', () => {
    const schema = z.strictObject({ a: z.string() });
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
    expect(messageOf(schema, { a: 1, ...many }).length).toBeLessThanOrEqual(500);
  });
});
