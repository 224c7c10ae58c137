import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
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
      t.loginConflict.value = { username: 'alice' };
    });
    const dialog = screen.getByRole('dialog', { name: 'This device holds older keys' });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel, keep the history' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['cancel'] });
    expect(screen.queryByRole('dialog')).toBeNull();
    act(() => {
      t.loginConflict.value = { username: 'alice' };
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Erase and continue' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['erase'] });
  });
});
