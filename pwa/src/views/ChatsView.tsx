import { useSignals } from '@preact/signals-react/runtime';
import { type FormEvent, useId, useState } from 'react';
import { Link } from 'react-router';
import { archivedDate, listTimeLabel } from '../components/dates.ts';
import { errorText } from '../components/error-text.ts';
import { PhotoIcon, VerifiedIcon, WarningIcon } from '../components/icons.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { RecoveryCodes } from '../components/RecoveryCodes.tsx';
import type { Translate } from '../i18n/i18n.ts';
import { contactPath } from '../state/contact-path.ts';
import { useApp, useT } from '../state/context.tsx';
import type { ChatSummary, Contact } from '../state/types.ts';
import { pendingRecoveryCodes } from './recovery.ts';
import { SignedInPage } from './SignedInPage.tsx';
import { isValidUsername, normalizeUsername } from './username.ts';

function AddContact() {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const username = normalizeUsername(name);
    setAdded(null);
    if (!isValidUsername(username)) {
      setError(t('error.invalid_username'));
      return;
    }
    if (username === app.auth.value.username) {
      setError(t('error.cannot_add_self'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await app.addContact(username);
      setAdded(username);
      // Cleared only if it still holds that name: one typed while the relay answered stays.
      setName((now) => (normalizeUsername(now) === username ? '' : now));
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{t('contacts.addTitle')}</h2>
      <div className="add-contact">
        <div className="field">
          <label htmlFor={`${id}-u`}>{t('contacts.username')}</label>
          <input
            id={`${id}-u`}
            autoCapitalize="none"
            autoComplete="off"
            spellCheck={false}
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? `${id}-err` : undefined}
          />
        </div>
        <button type="submit" className="button button-primary" disabled={busy}>
          {t('contacts.add')}
        </button>
      </div>
      <div id={`${id}-err`} role="alert">
        {error && <p className="error">{error}</p>}
      </div>
      <div role="status">
        {added && (
          <p className="ok">
            {t('contacts.added', { contact: added })}{' '}
            <Link to={contactPath(app.contacts.value, added)}>{t('contacts.openChat')}</Link>
          </p>
        )}
      </div>
    </form>
  );
}

function preview(chat: ChatSummary, t: Translate): string {
  const last = chat.last;
  if (!last) return t('chats.noMessages');
  const body = last.kind === 'photo' ? t('chats.photo') : last.preview;
  return last.outgoing ? t('chats.you', { text: body }) : body;
}

function ChatItem({
  chat,
  contact,
  locale,
}: {
  chat: ChatSummary;
  contact: Contact | undefined;
  locale: string;
}) {
  const t = useT();
  const last = chat.last;
  return (
    <li className="chat-list-item">
      <Link to={contactPath(contact ? [contact] : [], chat.contact)}>
        <span className="chat-list-name">
          {chat.contact}
          {contact?.verified && (
            <span className="verified-mark" title={t('safety.verified')}>
              <VerifiedIcon />
              <span className="sr-only">{t('safety.verified')}</span>
            </span>
          )}
          {chat.keyChanged && <span className="sr-only">{`, ${t('chats.keyChanged')}`}</span>}
        </span>
        <span className="chat-list-time">
          {last ? (
            <time dateTime={new Date(last.at).toISOString()}>{listTimeLabel(last.at, locale)}</time>
          ) : (
            ''
          )}
        </span>
        <span className="chat-list-preview">
          {/* First on the line, so a long name or preview never cuts it off. */}
          {contact?.blocked && <span className="chat-list-blocked">{t('chats.blocked')}</span>}
          {(chat.keyChanged || chat.expired) && <WarningIcon className="icon-warning" />}
          {chat.expired ? (
            t('chats.expired', { count: chat.expired })
          ) : (
            <>
              {chat.last?.kind === 'photo' && <PhotoIcon />}
              {preview(chat, t)}
            </>
          )}
        </span>
        {chat.unread > 0 ? (
          <span className="unread-badge">
            <span aria-hidden="true">{chat.unread}</span>
            <span className="sr-only">{t('chats.unread', { count: chat.unread })}</span>
          </span>
        ) : (
          <span />
        )}
      </Link>
    </li>
  );
}

/** The chat list (newest activity first) and the add-contact form. */
export function ChatsView() {
  useSignals();
  const t = useT();
  const app = useApp();
  const chats = app.chats.value;
  const contacts = app.contacts.value;
  const locale = app.language.value;
  const codes = pendingRecoveryCodes.value;

  if (codes) {
    return (
      <SignedInPage title={t('recovery.title')}>
        <div className="page page-narrow">
          <RecoveryCodes
            username={app.auth.value.username ?? ''}
            codes={codes}
            onDone={() => {
              pendingRecoveryCodes.value = null;
            }}
          />
        </div>
      </SignedInPage>
    );
  }

  const byName = new Map(contacts.map((c) => [c.username, c]));
  return (
    <SignedInPage title={t('view.chats.title')}>
      <div className="page">
        <PageHeading>{t('view.chats.title')}</PageHeading>
        {chats.length === 0 ? (
          <p className="empty">{t('chats.empty')}</p>
        ) : (
          <ul className="chat-list card" aria-label={t('view.chats.title')}>
            {chats.map((c) => (
              <ChatItem key={c.contact} chat={c} contact={byName.get(c.contact)} locale={locale} />
            ))}
          </ul>
        )}
        <AddContact />
        {app.archives.value.map((a) => (
          <p key={a.id}>
            <Link to={`/archives/${encodeURIComponent(a.id)}`}>
              {t('chats.archiveLink', { date: archivedDate(a.archivedAt, locale) })}
            </Link>
          </p>
        ))}
      </div>
    </SignedInPage>
  );
}
