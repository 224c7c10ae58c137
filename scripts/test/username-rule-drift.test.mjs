// The username rule's generated modules (scripts/gen-username-rule.mjs) are what the spec
// generates now: a spec change without `npm run gen:username`, or a hand edit of a generated
// file, fails here.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readRule, renderUsernameRule, SPEC, TARGETS } from '../gen-username-rule.mjs';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const specText = readFileSync(resolve(root, SPEC), 'utf8');

describe('the generated username rule', () => {
  it.each(TARGETS)('%s is current with spec/openapi.yaml', (target) => {
    expect(readFileSync(resolve(root, target), 'utf8')).toBe(renderUsernameRule(specText));
  });

  it('reads the pattern, the bounds and the reserved names from the spec', () => {
    const rule = readRule(specText);
    expect(rule.reserved).toContain('admin');
    expect(rule.minLength).toBeLessThanOrEqual(rule.maxLength);
    expect(rule.maxLength).toBeLessThanOrEqual(rule.inputMaxLength);
  });

  it('refuses a spec whose Username lost a part of the rule', () => {
    expect(() => renderUsernameRule(specText.replace(/\n {6}x-reserved:/, '\n      x-other:'))).toThrow(
      /x-reserved/,
    );
    expect(() => renderUsernameRule(specText.replace(/\n {6}minLength: 3\n/, '\n'))).toThrow(/minLength/);
  });
});
