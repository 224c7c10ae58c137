import { useSignals } from '@preact/signals-react/runtime';
import { useId, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { archivedDate } from '../components/dates.ts';
import { EraseDialog } from '../components/EraseDialog.tsx';
import { errorText } from '../components/error-text.ts';
import { LanguageSwitch } from '../components/LanguageSwitch.tsx';
import { Modal } from '../components/Modal.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { useApp, useT } from '../state/context.tsx';
import { AccountSecurity } from './AccountSecurity.tsx';
import { BlockedSettings } from './BlockedSettings.tsx';
import { DevicesSettings } from './DevicesSettings.tsx';
import { LockSettings } from './LockSettings.tsx';
import { SignedInPage } from './SignedInPage.tsx';

type Action = 'logout' | 'logoutEverywhere' | 'erase';

/** pwa/package.json's version, set by vite.config.ts (verify/README.md names it per release). */
const APP_VERSION: string = import.meta.env.VITE_APP_VERSION ?? 'dev';

/**
 * Logging out without an app lock leaves the history readable to whoever uses this browser:
 * say so, and offer erasing instead (SECURITY.md "What a user's device holds").
 */
function LogoutDialog({
  onCancel,
  onKeep,
  onErase,
}: {
  onCancel: () => void;
  onKeep: () => void;
  onErase: () => void;
}) {
  useSignals();
  const t = useT();
  return (
    <Modal label={t('logout.title')} onClose={onCancel}>
      <h2>{t('logout.title')}</h2>
      <p>{t('logout.warning')}</p>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
        <button type="button" className="button" onClick={onKeep}>
          {t('logout.keep')}
        </button>
        <button type="button" className="button button-danger" onClick={onErase}>
          {t('logout.erase')}
        </button>
      </div>
    </Modal>
  );
}

/**
 * Logging out everywhere ends every session of the account at once, each device then needing a
 * code from the authenticator: asked first. Without an app lock, the same warning as a logout.
 */
function LogoutEverywhereDialog({ onCancel, onConfirm }: { onCancel: () => void; onConfirm: () => void }) {
  useSignals();
  const t = useT();
  const app = useApp();
  return (
    <Modal label={t('logoutAll.title')} onClose={onCancel}>
      <h2>{t('logoutAll.title')}</h2>
      <p>{t('logoutAll.explain')}</p>
      {app.lock.value.kind === 'none' && <p>{t('logout.warning')}</p>}
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
        <button type="button" className="button button-danger" onClick={onConfirm}>
          {t('settings.logoutEverywhere')}
        </button>
      </div>
    </Modal>
  );
}

/** Account, language, storage, app version, and the session actions. */
export function SettingsView() {
  useSignals();
  const t = useT();
  const app = useApp();
  const navigate = useNavigate();
  const id = useId();
  const [busy, setBusy] = useState<Action | null>(null);
  const [confirmErase, setConfirmErase] = useState(false);
  const [confirmLogout, setConfirmLogout] = useState(false);
  const [confirmLogoutAll, setConfirmLogoutAll] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const persisted = app.storagePersisted.value;
  const update = app.update.value;

  const run = async (action: Action) => {
    setBusy(action);
    setError(null);
    try {
      await app[action === 'erase' ? 'eraseDevice' : action]();
      navigate(action === 'erase' ? '/register' : '/login');
    } catch (e) {
      setError(errorText(e, t));
    } finally {
      setBusy(null);
    }
  };

  return (
    <SignedInPage title={t('view.settings.title')}>
      <div className="page page-narrow">
        <PageHeading>{t('view.settings.title')}</PageHeading>
        <section className="card settings-section" aria-labelledby={`${id}-acc`}>
          <h2 id={`${id}-acc`}>{t('settings.account')}</h2>
          <p>{t('settings.signedInAs', { username: app.auth.value.username ?? '' })}</p>
        </section>
        <DevicesSettings />
        <AccountSecurity />
        <BlockedSettings />
        <LockSettings />
        {app.archives.value.length > 0 && (
          <section className="card settings-section" aria-labelledby={`${id}-arc`}>
            <h2 id={`${id}-arc`}>{t('settings.archives')}</h2>
            <p className="hint">{t('settings.archivesExplain')}</p>
            <ul className="archive-list">
              {app.archives.value.map((a) => (
                <li key={a.id}>
                  <span>
                    {t('archive.archivedAt', { date: archivedDate(a.archivedAt, app.language.value) })}
                  </span>
                  <Link className="button" to={`/archives/${encodeURIComponent(a.id)}`}>
                    {t('archive.open')}
                  </Link>
                </li>
              ))}
            </ul>
          </section>
        )}
        <section className="card settings-section" aria-labelledby={`${id}-lang`}>
          <h2 id={`${id}-lang`}>{t('language.label')}</h2>
          <LanguageSwitch />
        </section>
        <section className="card settings-section" aria-labelledby={`${id}-dev`}>
          <h2 id={`${id}-dev`}>{t('settings.device')}</h2>
          <p className="hint">
            {persisted === true
              ? t('settings.storagePersisted')
              : persisted === false
                ? t('settings.storageNotPersisted')
                : t('settings.storageUnknown')}
          </p>
          <p className="hint">
            {update.offlineReady ? t('settings.offlineReady') : t('settings.offlineNotReady')}
          </p>
          {update.available && (
            <div className="actions">
              <span>{t('update.available')}</span>
              <button type="button" className="button button-primary" onClick={() => app.applyUpdate()}>
                {t('update.apply')}
              </button>
            </div>
          )}
        </section>
        <section className="card settings-section" aria-labelledby={`${id}-about`}>
          <h2 id={`${id}-about`}>{t('settings.about')}</h2>
          <p>{t('settings.version', { version: APP_VERSION })}</p>
          {update.buildHash ? (
            <>
              <p>{t('settings.buildHash')}</p>
              <p>
                <code className="build-hash" data-testid="build-hash">
                  {update.buildHash}
                </code>
              </p>
            </>
          ) : (
            <p className="hint">{t('settings.buildHashUnknown')}</p>
          )}
          <p className="hint">{t('settings.verifyHow', { version: APP_VERSION })}</p>
          <p>
            <code className="build-hash">npx secure-drop-verify {location.origin}</code>
          </p>
          <p className="hint">{t('settings.verifyLimit')}</p>
        </section>
        <section className="card settings-section" aria-labelledby={`${id}-ses`}>
          <h2 id={`${id}-ses`}>{t('settings.sessions')}</h2>
          <div className="actions">
            <button
              type="button"
              className="button"
              disabled={busy !== null}
              onClick={() => (app.lock.value.kind === 'none' ? setConfirmLogout(true) : void run('logout'))}
            >
              {t('settings.logout')}
            </button>
          </div>
          <p className="hint">{t('settings.logoutExplain')}</p>
          <div className="actions">
            <button
              type="button"
              className="button"
              disabled={busy !== null}
              onClick={() => setConfirmLogoutAll(true)}
            >
              {t('settings.logoutEverywhere')}
            </button>
          </div>
          <p className="hint">{t('settings.logoutEverywhereExplain')}</p>
          <div className="actions">
            <button
              type="button"
              className="button button-danger"
              disabled={busy !== null}
              onClick={() => setConfirmErase(true)}
            >
              {t('settings.erase')}
            </button>
          </div>
          <p className="hint">{t('settings.eraseExplain')}</p>
          <div role="alert">{error && <p className="error">{error}</p>}</div>
        </section>
      </div>
      {confirmLogout && (
        <LogoutDialog
          onCancel={() => setConfirmLogout(false)}
          onKeep={() => {
            setConfirmLogout(false);
            void run('logout');
          }}
          onErase={() => {
            setConfirmLogout(false);
            setConfirmErase(true);
          }}
        />
      )}
      {confirmLogoutAll && (
        <LogoutEverywhereDialog
          onCancel={() => setConfirmLogoutAll(false)}
          onConfirm={() => {
            setConfirmLogoutAll(false);
            void run('logoutEverywhere');
          }}
        />
      )}
      {confirmErase && (
        <EraseDialog
          onCancel={() => setConfirmErase(false)}
          onConfirm={() => {
            setConfirmErase(false);
            void run('erase');
          }}
        />
      )}
    </SignedInPage>
  );
}
