import { describe, expect, it } from 'vitest';
import { en } from './en.ts';
import { createLanguage, detectLanguage, dictionariesForTest, translate, translator } from './i18n.ts';
import { ru } from './ru.ts';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
const texts = (m: unknown) => (typeof m === 'string' ? [m] : Object.values(m as Record<string, string>));

describe('dictionaries', () => {
  it('every English key exists in Russian and no extra key exists', () => {
    expect(Object.keys(ru).sort()).toEqual(Object.keys(en).sort());
  });

  it('no translation is empty and both languages use the same placeholders', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      const enNames = new Set(texts(en[key]).flatMap(placeholders));
      for (const text of texts(ru[key])) {
        expect(text.trim(), `ru ${key}`).not.toBe('');
        for (const name of placeholders(text)) expect(enNames.has(name), `ru ${key} {${name}}`).toBe(true);
      }
      for (const text of texts(en[key])) expect(text.trim(), `en ${key}`).not.toBe('');
    }
  });

  it('plural entries have an "other" form in both languages', () => {
    for (const dict of Object.values(dictionariesForTest)) {
      for (const message of Object.values(dict)) {
        if (typeof message !== 'string') expect(message.other).toBeTruthy();
      }
    }
  });
});

describe('translate()', () => {
  it('interpolates params and leaves unknown placeholders visible', () => {
    expect(translate('en', 'safety.heading', { contact: 'alice' })).toBe('Safety number with alice');
    expect(translate('en', 'safety.heading', {})).toBe('Safety number with {contact}');
  });

  it('chooses Russian plural forms by count', () => {
    expect(translate('ru', 'chats.unread', { count: 1 })).toBe('1 непрочитанное сообщение');
    expect(translate('ru', 'chats.unread', { count: 3 })).toBe('3 непрочитанных сообщения');
    expect(translate('ru', 'chats.unread', { count: 11 })).toBe('11 непрочитанных сообщений');
    expect(translate('en', 'chats.unread', { count: 2 })).toBe('2 unread messages');
  });

  it('follows the language signal, persists the switch and updates <html lang>', () => {
    const { language, setLanguage, dispose } = createLanguage();
    const t = () => translator(language.value);
    setLanguage('ru');
    expect(language.value).toBe('ru');
    expect(t()('nav.chats')).toBe('Чаты');
    expect(localStorage.getItem('sd.lang')).toBe('ru');
    expect(document.documentElement.lang).toBe('ru');
    setLanguage('en');
    expect(t()('nav.chats')).toBe('Chats');
    expect(document.documentElement.lang).toBe('en');
    dispose();
  });
});

describe('detectLanguage', () => {
  it('picks Russian for any ru* tag first in the list, English otherwise', () => {
    expect(detectLanguage(['ru-RU', 'en-US'])).toBe('ru');
    expect(detectLanguage(['ru'])).toBe('ru');
    expect(detectLanguage(['en-GB', 'ru'])).toBe('en');
    expect(detectLanguage(['de-DE', 'ru'])).toBe('ru');
    expect(detectLanguage(['de-DE'])).toBe('en');
    expect(detectLanguage([])).toBe('en');
  });
});
