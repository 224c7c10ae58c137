import { useSignals } from '@preact/signals-react/runtime';
import type { Lang } from '../i18n/types.ts';
import { useApp, useT } from '../state/context.tsx';

// Each language is named in itself, so a reader finds theirs whatever the current language.
const CHOICES: readonly { lang: Lang; key: 'language.ru' | 'language.en' }[] = [
  { lang: 'ru', key: 'language.ru' },
  { lang: 'en', key: 'language.en' },
];

export function LanguageSwitch() {
  useSignals();
  const t = useT();
  const app = useApp();
  const current = app.language.value;
  return (
    <fieldset className="lang-switch-group">
      <legend className="sr-only">{t('language.label')}</legend>
      <div className="lang-switch">
        {CHOICES.map((c) => (
          <button
            key={c.lang}
            type="button"
            className="button"
            lang={c.lang}
            aria-pressed={current === c.lang}
            onClick={() => app.setLanguage(c.lang)}
          >
            {t(c.key)}
          </button>
        ))}
      </div>
    </fieldset>
  );
}
