// The translation layer: every user-visible string goes through a translator for one language.
// The current language is a signal owned by the app instance (createLanguage, called by
// createApp); views get its translator with useT() (state/context.tsx), so a view that
// translates re-renders when the language changes, and helpers outside components are handed it.
import { effect, type ReadonlySignal, signal } from '@preact/signals-react';
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

/** An app instance's language: the saved choice or the browser's, switched and persisted here. */
export interface LanguageState {
  readonly language: ReadonlySignal<Lang>;
  setLanguage(lang: Lang): void;
  /** Stops keeping <html lang> in step. */
  dispose(): void;
}

export function createLanguage(): LanguageState {
  const language = signal<Lang>(initialLanguage());
  // Keep <html lang> true for screen readers and hyphenation.
  const stop = effect(() => {
    if (typeof document !== 'undefined') document.documentElement.lang = language.value;
  });
  return {
    language,
    setLanguage(lang) {
      language.value = lang;
      try {
        globalThis.localStorage?.setItem(STORAGE_KEY, lang);
      } catch {
        // Not persisted; the choice still holds for this session.
      }
    },
    dispose: stop,
  };
}

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

/** Translate `key` in `lang`. Plurals use params.count. */
export function translate(lang: Lang, key: MessageKey, params?: Params): string {
  const message = dictionaries[lang][key] ?? en[key];
  if (typeof message === 'string') return interpolate(message, params);
  const count = Number(params?.count ?? 0);
  const form = message[pluralOf(lang, count)] ?? message.other;
  return interpolate(form, params);
}

/** `translate` bound to one language: what views call `t`. */
export type Translate = (key: MessageKey, params?: Params) => string;

const translators = new Map<Lang, Translate>();
/** The translator of `lang` (one per language, so it is stable across renders). */
export function translator(lang: Lang): Translate {
  let tr = translators.get(lang);
  if (!tr) {
    tr = (key, params) => translate(lang, key, params);
    translators.set(lang, tr);
  }
  return tr;
}

export const dictionariesForTest = dictionaries;
