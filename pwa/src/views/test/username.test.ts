import { describe, expect, it } from 'vitest';
import { isValidUsername, normalizeUsername } from '../username.ts';

describe('username rule (same as the relay: spec/openapi.yaml Username)', () => {
  it.each(['bob', 'alice_2', 'a1b', 'x'.repeat(32)])('accepts %s', (name) => {
    expect(isValidUsername(normalizeUsername(name))).toBe(true);
  });
  it.each(['ab', 'x'.repeat(33), '_bob', 'bob_', 'bo b', 'bob!', 'аlice' /* Cyrillic а */])(
    'refuses %s',
    (name) => {
      expect(isValidUsername(normalizeUsername(name))).toBe(false);
    },
  );
  it('folds case, spaces around and compatibility forms (fullwidth letters)', () => {
    expect(normalizeUsername('  Bob ')).toBe('bob');
    expect(normalizeUsername('ＢＯＢ')).toBe('bob');
  });
});
