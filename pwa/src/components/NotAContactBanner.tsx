import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { useApp, useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';

/** Opened a chat by address with someone who is not (or no longer) a contact. */
export function NotAContactBanner({ contact }: { contact: string }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const [error, setError] = useState<string | null>(null);
  const add = async () => {
    setError(null);
    try {
      await app.addContact(contact);
    } catch (e) {
      setError(errorText(e, t));
    }
  };
  return (
    <section className="banner banner-offline" aria-label={t('chat.notContact', { contact })}>
      <p>{t('chat.notContact', { contact })}</p>
      <button type="button" className="button" onClick={add}>
        {t('contacts.add')}
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
