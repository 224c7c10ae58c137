import { useSignals } from '@preact/signals-react/runtime';
import { useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { BlockDialog } from '../components/BlockDialog.tsx';
import { BlockedChatBanner } from '../components/BlockedChatBanner.tsx';
import { Composer } from '../components/Composer.tsx';
import { BackIcon, BlockIcon, SafetyIcon, VerifiedIcon } from '../components/icons.tsx';
import { KeyChangeBanner } from '../components/KeyChangeBanner.tsx';
import { MessageList } from '../components/MessageList.tsx';
import { MessageRequestBanner } from '../components/MessageRequestBanner.tsx';
import { NewMessageAnnouncer } from '../components/NewMessageAnnouncer.tsx';
import { NotAContactBanner } from '../components/NotAContactBanner.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { contactPath } from '../state/contact-path.ts';
import { useApp, useT } from '../state/context.tsx';
import { useRouteContact } from './contact-route.tsx';
import { SignedInPage } from './SignedInPage.tsx';

/** One conversation: header, key-change warning, virtualized history, composer. */
export function ChatView() {
  useSignals();
  const t = useT();
  const app = useApp();
  const contact = useRouteContact();
  const messagesSignal = useMemo(() => app.messagesFor(contact), [app, contact]);
  const messages = messagesSignal.value;
  const info = app.contacts.value.find((c) => c.username === contact);
  const keyChanged = info?.keyChanged ?? false;
  const locale = app.language.value;
  const [blocking, setBlocking] = useState(false);

  // Reading the chat clears its unread count — on open and whenever a message arrives here.
  const count = messages.length;
  // biome-ignore lint/correctness/useExhaustiveDependencies: `count` re-runs it when a message arrives
  useEffect(() => {
    if (contact) app.markRead(contact);
  }, [app, contact, count]);

  return (
    <SignedInPage title={t('view.chat.title')} bare>
      <div className="chat">
        <header className="chat-header">
          <Link to="/chats" className="icon-button" aria-label={t('chat.back')} title={t('chat.back')}>
            <BackIcon />
          </Link>
          <PageHeading>
            {contact}
            {info?.verified && (
              <span className="verified-mark" title={t('safety.verified')}>
                <VerifiedIcon />
                <span className="sr-only">{t('safety.verified')}</span>
              </span>
            )}
          </PageHeading>
          {/* On a phone the words give way to icons, so the header stays one row (in Russian the
              two words took a row of their own); the name is the word either way. */}
          <Link
            to={contactPath(app.contacts.value, contact, 'safety')}
            className="button chat-action"
            aria-label={t('chat.safety')}
            title={t('chat.safety')}
          >
            <SafetyIcon />
            <span className="chat-action-word">{t('chat.safety')}</span>
          </Link>
          {info && !info.request && !info.blocked && (
            <button
              type="button"
              className="button chat-action"
              aria-label={t('chat.block')}
              title={t('chat.block')}
              onClick={() => setBlocking(true)}
            >
              <BlockIcon />
              <span className="chat-action-word">{t('chat.block')}</span>
            </button>
          )}
        </header>
        {/* Blocked: nothing is sent either way, and the key change waits for an unblock (its
            timeline entry stays in the history), so a phone keeps room for the history. */}
        {keyChanged && !info?.blocked && <KeyChangeBanner contact={contact} />}
        {!info && <NotAContactBanner contact={contact} />}
        {info?.blocked && <BlockedChatBanner contact={contact} />}
        {info?.request && !info.blocked && <MessageRequestBanner contact={contact} />}
        <MessageList messages={messages} locale={locale} contact={contact} />
        <NewMessageAnnouncer messages={messages} />
        {/* Keyed by contact: going straight from one chat to another (a jump through the history)
            keeps this view mounted, and one contact's draft — or a refused send given back —
            must not land in another contact's box. */}
        <Composer
          key={contact}
          contact={contact}
          held={info?.blocked ? 'blocked' : keyChanged ? 'key_change' : info?.request ? 'request' : null}
        />
      </div>
      {blocking && <BlockDialog contact={contact} onClose={() => setBlocking(false)} />}
    </SignedInPage>
  );
}
