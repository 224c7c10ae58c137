// The translation layer: every user-visible string goes through t(). The current language
// is a signal, so components that read t() (with useSignals()) re-render when it changes.
import { effect, signal } from '@preact/signals-react';
import { en, type MessageKey } from './en.ts';
import { ru } from './ru.ts';
import { LANGS, type Lang, type Message, type Params } from './types.ts';

export type { MessageKey } from './en.ts';
export type { Lang } from './types.ts';

const dictionaries: Record<Lang, Record<MessageKey, Message>> = { en, ru };
// A UI preference, not a secret: plain localStorage is the right place for it.
const STORAGE_KEY = 'sd.lang';

/** ru* → Russian, anything else → English (README: the app speaks Russian and English, picked from the browser). */
export function detectLanguage(preferred: readonly string[]): Lang {
  for (const tag of preferred) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'ru') return 'ru';
    if (base === 'en') return 'en';
  }
  return 'en';
}

function initialLanguage(): Lang {
  try {
    const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (saved && (LANGS as readonly string[]).includes(saved)) return saved as Lang;
  } catch {
    // Storage may be unavailable (private mode); fall back to the browser's languages.
  }
  return detectLanguage(globalThis.navigator?.languages ?? []);
}

export const language = signal<Lang>(initialLanguage());

export function setLanguage(lang: Lang): void {
  language.value = lang;
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, lang);
  } catch {
    // Not persisted; the choice still holds for this session.
  }
}

// Keep <html lang> true for screen readers and hyphenation.
effect(() => {
  if (typeof document !== 'undefined') document.documentElement.lang = language.value;
});

const pluralRules = new Map<Lang, Intl.PluralRules>();
function pluralOf(lang: Lang, count: number): Intl.LDMLPluralRule {
  let rules = pluralRules.get(lang);
  if (!rules) {
    rules = new Intl.PluralRules(lang);
    pluralRules.set(lang, rules);
  }
  return rules.select(count);
}

function interpolate(text: string, params: Params | undefined): string {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

/** Translate `key` in `lang` (default: the current language). Plurals use params.count. */
export function t(key: MessageKey, params?: Params, lang: Lang = language.value): string {
  const message = dictionaries[lang][key] ?? en[key];
  if (typeof message === 'string') return interpolate(message, params);
  const count = Number(params?.count ?? 0);
  const form = message[pluralOf(lang, count)] ?? message.other;
  return interpolate(form, params);
}

export const dictionariesForTest = dictionaries;
