import { describe, expect, it } from 'vitest';
import { isReservedUsername, isValidUsername, normalizeUsername } from '../username.ts';

describe('username rule (same as the relay: spec/openapi.yaml Username)', () => {
  it.each(['bob', 'alice_2', 'a1b', 'x'.repeat(32), '  Bob ', 'admin_fan'])('accepts %s', (name) => {
    expect(isValidUsername(normalizeUsername(name))).toBe(true);
  });
  it.each([
    'ab',
    'x'.repeat(33),
    '_bob',
    'bob_',
    'bo b',
    'bob!',
    'аlice' /* Cyrillic а */,
    'ａｄｍｉｎ' /* fullwidth: refused, not folded */,
    'ＢＯＢ',
    'ﬁnn' /* ligature */,
    '\u212aelvin' /* Kelvin sign */,
    'bo\u0301b' /* combining accent */,
  ])('refuses %s', (name) => {
    expect(isValidUsername(normalizeUsername(name))).toBe(false);
  });
  it('folds case and spaces around, never a compatibility form', () => {
    expect(normalizeUsername('  Bob ')).toBe('bob');
    expect(normalizeUsername('ＢＯＢ')).toBe('ＢＯＢ');
  });
  it.each(['admin', 'root', 'support', 'securedrop', 'system', 'help', 'moderator'])(
    'reserves %s',
    (name) => {
      expect(isReservedUsername(normalizeUsername(name.toUpperCase()))).toBe(true);
    },
  );
});
