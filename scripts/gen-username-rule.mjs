// Writes the username rule of spec/openapi.yaml (components.schemas.Username and UsernameInput)
// as one TypeScript module into every package that applies it: the relay (the authority) and
// the PWA (its forms, to answer before a round trip). The spec is the one definition; the module
// is emitted into each package because neither package's build may import the other's sources
// (relay/README.md "Usernames"). `npm run gen:username` writes the files;
// scripts/test/username-rule-drift.test.mjs fails while a written file differs from this output.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = resolve(fileURLToPath(import.meta.url), '../..');

export const SPEC = 'spec/openapi.yaml';
/** Where the module is written, relative to the repository root. */
export const TARGETS = [
  'relay/src/auth/username-rule.generated.ts',
  'pwa/src/views/username-rule.generated.ts',
];

/** The rule's values read from the spec's text; throws when one is missing or malformed. */
export function readRule(specText) {
  const schemas = parse(specText)?.components?.schemas ?? {};
  const { Username: name, UsernameInput: input } = schemas;
  const rule = {
    pattern: name?.pattern,
    minLength: name?.minLength,
    maxLength: name?.maxLength,
    inputMaxLength: input?.maxLength,
    reserved: name?.['x-reserved'],
  };
  if (typeof rule.pattern !== 'string') throw new Error(`${SPEC}: Username has no pattern`);
  // Emitted as a regular-expression literal: it must compile and hold no '/' or line break.
  new RegExp(rule.pattern, 'u');
  if (/[/\n\r]/.test(rule.pattern)) throw new Error(`${SPEC}: Username pattern cannot be a literal`);
  for (const key of ['minLength', 'maxLength', 'inputMaxLength'])
    if (!Number.isInteger(rule[key]) || rule[key] < 1) throw new Error(`${SPEC}: Username ${key} is missing`);
  if (!Array.isArray(rule.reserved) || !rule.reserved.every((r) => new RegExp(rule.pattern).test(r)))
    throw new Error(`${SPEC}: Username x-reserved must list canonical usernames`);
  return rule;
}

/** The module's text for `specText`. */
export function renderUsernameRule(specText) {
  const r = readRule(specText);
  // Canonical names (checked above) need no escaping inside quotes.
  const reserved = r.reserved.map((n) => `  '${n}',`).join('\n');
  return `// GENERATED from ${SPEC} (components.schemas.Username, UsernameInput) by
// scripts/gen-username-rule.mjs — do not edit: change the spec, then run \`npm run gen:username\`.
// The same module is written into the relay and the PWA (relay/README.md "Usernames").

/** Username's pattern: every canonical name matches it. */
export const USERNAME_PATTERN = /${r.pattern}/;
export const USERNAME_MIN = ${r.minLength};
export const USERNAME_MAX = ${r.maxLength};
/** UsernameInput's maxLength: the longest text looked at, which bounds the normalisation work. */
export const USERNAME_INPUT_MAX = ${r.inputMaxLength};

/** Names that could pass for the operator or the service, refused at registration. */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set([
${reserved}
]);

/**
 * Input that Unicode NFKC normalisation would change is refused (null), never folded —
 * fullwidth letters, ligatures, the Kelvin sign — so no compatibility form can squat or
 * impersonate a name; otherwise case is folded.
 */
export function foldUsername(input: string): string | null {
  return input.normalize('NFKC') === input ? input.toLowerCase() : null;
}

/** The canonical username \`input\` names, or null when it breaks the rule (reserved names pass). */
export function canonicalUsername(input: string): string | null {
  if (input.length > USERNAME_INPUT_MAX) return null;
  const name = foldUsername(input);
  if (name === null || name.length < USERNAME_MIN || name.length > USERNAME_MAX) return null;
  return USERNAME_PATTERN.test(name) ? name : null;
}

export const isReservedUsername = (canonical: string): boolean => RESERVED_USERNAMES.has(canonical);
`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderUsernameRule(readFileSync(resolve(root, SPEC), 'utf8'));
  for (const target of TARGETS) {
    writeFileSync(resolve(root, target), text);
    console.log(`wrote ${target}`);
  }
}
