import { useSignals } from '@preact/signals-react/runtime';
import { useEffect, useId, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { archivedDate, dayLabel, timeLabel } from '../components/dates.ts';
import { errorText } from '../components/error-text.ts';
import { Modal } from '../components/Modal.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { TimelineEntry } from '../components/TimelineEntry.tsx';
import { useApp, useT } from '../state/context.tsx';
import { isTimelineBody } from '../state/timeline.ts';
import type { ArchiveContents, ChatMessage } from '../state/types.ts';
import { SignedInPage } from './SignedInPage.tsx';

/** An archived photo: its kept bytes, or a note that none were kept (nothing is downloaded). */
function ArchivedPhoto({ archive, message }: { archive: string; message: ChatMessage }) {
  const app = useApp();
  const t = useT();
  const [url, setUrl] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    let made: string | null = null;
    let live = true;
    app
      .archivePhoto(archive, message.id)
      .then((u) => {
        made = u;
        if (live) setUrl(u);
        else if (u) URL.revokeObjectURL(u);
      })
      .catch(() => live && setUrl(null));
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [app, archive, message.id]);
  const alt =
    message.direction === 'in' ? t('photo.altFrom', { contact: message.contact }) : t('photo.altMine');
  if (url === undefined) return null;
  if (url === null) return <p className="hint">{t('archive.photoNotKept')}</p>;
  return <img className="archive-photo" src={url} alt={alt} />;
}

/** One archived message: text or photo, its time; nothing to retry, nothing to send. */
function ArchivedMessage({ archive, m, locale }: { archive: string; m: ChatMessage; locale: string }) {
  const t = useT();
  if (isTimelineBody(m.body)) return <TimelineEntry message={m} locale={locale} />;
  const mine = m.direction === 'out';
  return (
    <div className={mine ? 'bubble bubble-mine' : 'bubble'}>
      <span className="sr-only">{mine ? t('message.you') : t('message.from', { contact: m.contact })}</span>
      {m.body.kind === 'text' ? (
        <p className="bubble-text">{m.body.text}</p>
      ) : (
        <ArchivedPhoto archive={archive} message={m} />
      )}
      <div className="bubble-meta">
        <time dateTime={new Date(m.at).toISOString()}>
          {dayLabel(m.at, locale)} {timeLabel(m.at, locale)}
        </time>
        {mine && m.state === 'failed' && <span className="delivery-failed">{t('archive.notSent')}</span>}
      </div>
    </div>
  );
}

/**
 * A read-only archive of this device's earlier keys (SECURITY.md, "What a user's device
 * holds"): its chats and messages as they were stored, when it was archived, and deleting it.
 * There is no composer and nothing here reaches the relay.
 */
export function ArchiveView() {
  useSignals();
  const t = useT();
  const app = useApp();
  const navigate = useNavigate();
  const id = useId();
  const { archive = '' } = useParams();
  const locale = app.language.value;
  const info = app.archives.value.find((a) => a.id === archive);
  const [contents, setContents] = useState<ArchiveContents | null>(null);
  const [chat, setChat] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const available = info?.available === true;

  useEffect(() => {
    if (!available) return;
    let live = true;
    app
      .openArchive(archive)
      .then((c) => {
        if (!live) return;
        setContents(c);
        setChat((current) => current ?? c.chats[0]?.contact ?? null);
      })
      .catch((e) => live && setError(errorText(e, t)));
    return () => {
      live = false;
    };
  }, [app, archive, available, t]);

  const remove = async () => {
    setConfirm(false);
    setError(null);
    try {
      await app.deleteArchive(archive);
      navigate('/settings');
    } catch (e) {
      setError(errorText(e, t));
    }
  };

  const shown = contents?.chats.find((c) => c.contact === chat);
  return (
    <SignedInPage title={t('view.archive.title')}>
      <div className="page page-narrow archive">
        <PageHeading>{t('view.archive.title')}</PageHeading>
        {!info ? (
          <p className="empty">{t('error.not_found')}</p>
        ) : (
          <>
            <section className="card" aria-labelledby={`${id}-about`}>
              <p id={`${id}-about`} className="archive-date">
                {t('archive.archivedAt', { date: archivedDate(info.archivedAt, locale) })}
              </p>
              <p className="hint">{available ? t('archive.explain') : t('archive.unavailable')}</p>
              <div className="actions">
                <button type="button" className="button button-danger" onClick={() => setConfirm(true)}>
                  {t('archive.delete')}
                </button>
              </div>
              <div role="alert">{error && <p className="error">{error}</p>}</div>
            </section>
            {contents && contents.chats.length === 0 && <p className="empty">{t('archive.empty')}</p>}
            {contents && contents.chats.length > 0 && (
              <nav aria-label={t('archive.chats')}>
                <ul className="archive-chats">
                  {contents.chats.map((c) => (
                    <li key={c.contact}>
                      <button
                        type="button"
                        className="button"
                        aria-pressed={c.contact === chat}
                        onClick={() => setChat(c.contact)}
                      >
                        {c.contact}
                      </button>
                    </li>
                  ))}
                </ul>
              </nav>
            )}
            {shown && (
              <section className="card archive-messages" aria-label={shown.contact}>
                <h2>{shown.contact}</h2>
                {shown.messages.map((m) => (
                  <ArchivedMessage key={m.id} archive={archive} m={m} locale={locale} />
                ))}
              </section>
            )}
          </>
        )}
        <p>
          <Link to="/settings">{t('view.settings.title')}</Link>
        </p>
      </div>
      {confirm && (
        <Modal label={t('archive.deleteTitle')} onClose={() => setConfirm(false)}>
          <h2>{t('archive.deleteTitle')}</h2>
          <p>{t('archive.deleteExplain')}</p>
          <div className="actions">
            <button type="button" className="button" onClick={() => setConfirm(false)}>
              {t('common.cancel')}
            </button>
            <button type="button" className="button button-danger" onClick={() => void remove()}>
              {t('archive.delete')}
            </button>
          </div>
        </Modal>
      )}
    </SignedInPage>
  );
}
