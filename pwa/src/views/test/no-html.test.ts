// Static guards over the app's source: no HTML injection API anywhere (messages and names are
// text, rendered as text nodes) and no style attribute except the virtualized list's positions
// (set by React through the CSSOM, which the CSP allows; markup style attributes it forbids).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'test' ? [] : sources(p);
    return /\.(ts|tsx)$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) ? [p] : [];
  });
}

// Code, not comments: drop // line comments and /* */ blocks before searching.
const code = (file: string) =>
  readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1');

// JSX text made of letters (">Send<") or a literal user-facing attribute (aria-label="Send")
// means a string bypassed the translation layer. "=>" is an arrow, not a tag end.
const UNTRANSLATED_TEXT = /(?<![=>])>\s*[\p{L}][^<{}]*</gu;
const UNTRANSLATED_ATTR = /\b(aria-label|placeholder|title|alt)="[^"]*\p{L}[^"]*"/gu;

describe('source guards', () => {
  const files = sources(SRC);

  it('finds the app sources', () => {
    expect(files.some((f) => f.endsWith('MessageBubble.tsx'))).toBe(true);
  });

  it('never injects HTML', () => {
    const offenders = files.filter((f) =>
      /dangerouslySetInnerHTML|\.innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(code(f)),
    );
    expect(offenders.map((f) => relative(SRC, f))).toEqual([]);
  });

  // React's style prop writes through the CSSOM, which the CSP allows; it is kept to the two
  // places that need computed geometry: the virtualized rows and a photo's reserved box.
  it('sets style only for the virtualized rows and the photo box', () => {
    const offenders = files.filter((f) => /\bstyle=|setAttribute\(\s*['"]style/.test(code(f)));
    expect(offenders.map((f) => relative(SRC, f)).sort()).toEqual([
      'components/MessageList.tsx',
      'components/PhotoMessage.tsx',
    ]);
  });

  it('shows no user-facing text that bypasses t() in views and components', () => {
    const ui = files.filter((f) => /\/(views|components)\/[^/]+\.tsx$/.test(f));
    expect(ui.length).toBeGreaterThan(10);
    const found = ui.flatMap((f) =>
      [...code(f).matchAll(UNTRANSLATED_TEXT), ...code(f).matchAll(UNTRANSLATED_ATTR)].map(
        (m) => `${relative(SRC, f)}: ${m[0].trim()}`,
      ),
    );
    expect(found).toEqual([]);
  });

  it('the untranslated-text check does catch literals', () => {
    expect('<button>Send</button>'.match(UNTRANSLATED_TEXT)).not.toBeNull();
    expect('<p className="x">Привет</p>'.match(UNTRANSLATED_TEXT)).not.toBeNull();
    expect('<input aria-label="Search" />'.match(UNTRANSLATED_ATTR)).not.toBeNull();
    expect("<p>{t('x')}</p>".match(UNTRANSLATED_TEXT)).toBeNull();
    expect('(f: Blob) => Promise<string | null>'.match(UNTRANSLATED_TEXT)).toBeNull();
  });
});
