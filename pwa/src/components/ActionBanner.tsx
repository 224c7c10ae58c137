import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';

export interface BannerAction {
  readonly label: string;
  readonly run: () => Promise<void>;
  /** 'primary' or 'danger' styling; plain otherwise. */
  readonly tone?: 'primary' | 'danger';
  /** The action removes the chat: back to the chat list once it is done. */
  readonly leaves?: boolean;
}

/**
 * A chat's warning banner with buttons (a message request, a chat blocked elsewhere): one
 * action at a time, its failure shown in the banner.
 */
export function ActionBanner({
  title,
  explain,
  actions,
}: {
  title: string;
  explain: string;
  actions: readonly BannerAction[];
}) {
  const t = useT();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async ({ run, leaves }: BannerAction) => {
    setBusy(true);
    setError(null);
    try {
      await run();
      if (leaves) navigate('/chats');
    } catch (e) {
      setError(errorText(e, t));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="banner banner-warning" aria-label={title}>
      <p>
        <strong>{title}</strong> {explain}
      </p>
      <div className="actions">
        {actions.map((a) => (
          <button
            key={a.label}
            type="button"
            className={a.tone ? `button button-${a.tone}` : 'button'}
            disabled={busy}
            onClick={() => act(a)}
          >
            {a.label}
          </button>
        ))}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
