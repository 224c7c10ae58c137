// Shapes shared by the dictionaries and the translator.

export type Lang = 'en' | 'ru';
export const LANGS: readonly Lang[] = ['en', 'ru'];

/** Plural forms per Intl.PluralRules category; `other` is always required. */
interface PluralForms {
  zero?: string;
  one?: string;
  two?: string;
  few?: string;
  many?: string;
  other: string;
}

export type Message = string | PluralForms;
export type Params = Record<string, string | number>;
