import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../state/errors.ts';
import { makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

const typeCode = (dialog: HTMLElement, label: RegExp | string, value: string) =>
  fireEvent.change(within(dialog).getByLabelText(label), { target: { value } });

describe('Settings: authenticator, recovery codes, sessions', () => {
  it('re-enrols the authenticator: current code, the new secret’s QR, a code of the new secret, done', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'Re-enrol authenticator' }));
    const dialog = screen.getByRole('dialog', { name: 'Re-enrol authenticator' });
    typeCode(dialog, /Current authenticator code/, '000000');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Continue' }));
    });
    expect(within(dialog).getByRole('alert').textContent).not.toBe('');
    expect(within(dialog).queryByLabelText(/NEW authenticator/)).toBeNull();
    // A recovery code authorises it too.
    typeCode(dialog, /Current authenticator code/, 'abcd-efgh-ijkl');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Continue' }));
    });
    expect(t.calls).toContainEqual({ action: 'startTotpReenroll', args: ['abcd-efgh-ijkl'] });
    const qr = await within(dialog).findByRole('img', { name: /QR code for adding alice/ });
    expect(qr.getAttribute('data-qr-value')).toMatch(/secret=KRUGS4ZANFZSAYJAONSWG4TFOQQQ2345/);
    expect(dialog.textContent).toContain('KRUG');
    typeCode(dialog, /NEW authenticator/, '654321');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Confirm new authenticator' }));
    });
    expect(t.calls).toContainEqual({ action: 'confirmTotpReenroll', args: ['654321'] });
    expect(within(dialog).getByRole('status').textContent).toMatch(/every other session .* ended/);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    // The other sessions ended: the list is read again and shows this device only.
    await waitFor(() =>
      expect(
        within(screen.getByRole('list', { name: 'Signed-in devices' })).getAllByRole('listitem'),
      ).toHaveLength(1),
    );
  });

  it('the owner’s key warning opens the re-enrolment in one tap', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.ownIdentityWarning.value = { at: Date.now() };
    const { router } = renderAt(t.app, '/chats');
    const banner = screen.getByRole('alert', { name: /security key was replaced/ });
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'Re-enrol authenticator' }));
    });
    expect(router.state.location.pathname).toBe('/settings');
    expect(screen.getByRole('dialog', { name: 'Re-enrol authenticator' })).toBeTruthy();
  });

  it('new recovery codes: a current code, then the codes shown once with copy, download and “I saved them”', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'New recovery codes' }));
    const dialog = screen.getByRole('dialog', { name: 'New recovery codes' });
    typeCode(dialog, /Current authenticator code/, '123456');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Create new codes' }));
    });
    const list = within(dialog).getByRole('list', { name: 'Recovery codes' });
    expect(
      within(list)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['new1-aaaa-bbbb', 'new2-cccc-dddd']);
    expect(within(dialog).getByRole('button', { name: 'Download as a file' })).toBeTruthy();
    const done = within(dialog).getByRole('button', { name: 'Continue' }) as HTMLButtonElement;
    expect(done.disabled).toBe(true);
    // Escape does not throw the only copy away.
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.getByRole('dialog')).toBeTruthy();
    fireEvent.click(within(dialog).getByLabelText('I have saved my recovery codes'));
    fireEvent.click(done);
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('lists the sessions, marks this device, and ends another', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    const list = await screen.findByRole('list', { name: 'Signed-in devices' });
    const items = within(list).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    expect(items[0]?.textContent).toContain('Firefox on Android — this device');
    expect(within(items[0] as HTMLElement).queryByRole('button')).toBeNull();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'End the session of Chrome on Windows' }));
    });
    expect(t.calls).toContainEqual({ action: 'endOtherSession', args: ['s2'] });
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(1));
  });

  it('a session that cannot be ended says why, and the list is read again', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.app.endOtherSession = async () => {
      throw new AppError('network');
    };
    renderAt(t.app, '/settings');
    const list = await screen.findByRole('list', { name: 'Signed-in devices' });
    const reads = t.calls.filter((c) => c.action === 'listSessions').length;
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'End the session of Chrome on Windows' }));
    });
    // The failure stays on screen after the list is read again (which clears only its own errors).
    expect(t.calls.filter((c) => c.action === 'listSessions')).toHaveLength(reads + 1);
    expect(screen.getAllByRole('alert').map((a) => a.textContent)).toContain('No connection to the server.');
    expect(within(list).getAllByRole('listitem')).toHaveLength(2);
    expect(within(list).getByRole('button', { name: 'End the session of Chrome on Windows' })).toHaveProperty(
      'disabled',
      false,
    );
  });

  it('in Russian', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    setLanguage('ru');
    renderAt(t.app, '/settings');
    expect(screen.getByRole('button', { name: 'Перепривязать аутентификатор' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Новые коды восстановления' })).toBeTruthy();
    expect(await screen.findByRole('list', { name: 'Устройства со входом' })).toBeTruthy();
  });
});

describe('login on a device whose keys were replaced', () => {
  it('asks before erasing; cancel erases nothing', async () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: true };
    });
    const dialog = screen.getByRole('dialog', { name: 'This device holds older keys' });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel, keep the history' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['cancel'] });
    expect(screen.queryByRole('dialog')).toBeNull();
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: true };
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Erase and continue' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['erase'] });
  });

  it('offers keeping the old history read-only', async () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: true };
    });
    const dialog = screen.getByRole('dialog', { name: 'This device holds older keys' });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Keep the old history read-only' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['archive'] });
    expect(await screen.findByRole('heading', { name: 'Chats', level: 1 })).toBeTruthy();
  });
});

describe('a read-only archive of earlier keys', () => {
  const ARCHIVED_AT = Date.UTC(2026, 10, 3, 9, 30);
  function withArchive() {
    const t = makeTestApp({ signedIn: 'alice' });
    t.archives.value = [{ id: String(ARCHIVED_AT), archivedAt: ARCHIVED_AT, available: true }];
    const msg = (id: string, direction: 'in' | 'out', text: string, at: number) => ({
      id,
      contact: 'bob',
      direction,
      at,
      state: direction === 'in' ? ('received' as const) : ('delivered' as const),
      body: { kind: 'text' as const, text },
    });
    t.archiveContents.set(String(ARCHIVED_AT), {
      id: String(ARCHIVED_AT),
      archivedAt: ARCHIVED_AT,
      chats: [
        { contact: 'bob', messages: [msg('in-1', 'in', 'old hello', ARCHIVED_AT - 60_000)] },
        { contact: 'carol', messages: [msg('out-2', 'out', 'old note', ARCHIVED_AT - 120_000)] },
      ],
    });
    return t;
  }

  it('is listed in Settings and on the chats screen, labelled with when it was archived', async () => {
    const t = withArchive();
    renderAt(t.app, '/settings');
    const section = screen.getByRole('region', { name: 'Read-only history' });
    expect(within(section).getByText(/Archived on .*2026/)).toBeTruthy();
    expect(within(section).getByRole('link', { name: 'Open' }).getAttribute('href')).toBe(
      `/archives/${ARCHIVED_AT}`,
    );
  });

  it('shows the old chats read-only (no composer), switches chats, and deletes after confirming', async () => {
    const t = withArchive();
    const { router } = renderAt(t.app, `/archives/${ARCHIVED_AT}`);
    expect(screen.getByRole('heading', { name: 'Read-only history', level: 1 })).toBeTruthy();
    expect(screen.getByText(/Archived on .*2026/)).toBeTruthy();
    expect(await screen.findByText('old hello')).toBeTruthy();
    expect(screen.queryByRole('textbox')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'carol' }));
    expect(screen.getByText('old note')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Delete this archive' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete the read-only history?' });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Delete this archive' }));
    });
    expect(t.calls).toContainEqual({ action: 'deleteArchive', args: [String(ARCHIVED_AT)] });
    expect(router.state.location.pathname).toBe('/settings');
    expect(screen.queryByRole('region', { name: 'Read-only history' })).toBeNull();
  });
});
