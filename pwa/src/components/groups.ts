/** Splits a string into groups of `size` characters (the last may be shorter), ignoring spaces. */
export function groupChars(text: string, size: number): string[] {
  const compact = text.replace(/\s+/g, '');
  const out: string[] = [];
  for (let i = 0; i < compact.length; i += size) out.push(compact.slice(i, i + size));
  return out;
}
