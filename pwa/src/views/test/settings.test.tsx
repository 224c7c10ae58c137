import { act, fireEvent, screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

describe('SettingsView', () => {
  it('switches the whole interface to Russian and back', () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Settings');
    fireEvent.click(screen.getByRole('button', { name: 'Русский' }));
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Настройки');
    expect(screen.getByRole('button', { name: 'Выйти на всех устройствах' })).toBeTruthy();
    expect(document.documentElement.lang).toBe('ru');
    expect(screen.getByRole('button', { name: 'Русский' }).getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(screen.getByRole('button', { name: 'English' }));
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Settings');
  });

  it('lists blocked users and unblocks one; with none, says so', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.blocked.value = [
      { username: 'mallory', blockedAt: Date.parse('2026-03-10T12:00:00') },
      { username: 'trent', blockedAt: Date.parse('2026-03-11T12:00:00') },
    ];
    renderAt(t.app, '/settings');
    const list = await screen.findByRole('list', { name: 'Blocked users' });
    expect(
      within(list)
        .getAllByRole('listitem')
        .map((li) => li.querySelector('strong')?.textContent),
    ).toEqual(['mallory', 'trent']);
    expect(list.textContent).toMatch(/Blocked on .*2026/);
    await act(async () => {
      fireEvent.click(within(list).getByRole('button', { name: 'Unblock mallory' }));
    });
    expect(t.calls).toContainEqual({ action: 'unblock', args: ['mallory'] });
    expect(screen.getByText('mallory is unblocked.')).toBeTruthy();
    // Read again from the relay after the change.
    expect(within(list).getAllByRole('listitem')).toHaveLength(1);
    // Unblocked meanwhile on another device: the relay answers not_found, which is the wanted
    // state, not an error; the list is read again.
    t.blocked.value = [];
    await act(async () => {
      fireEvent.click(within(list).getByRole('button', { name: 'Unblock trent' }));
    });
    expect(screen.getByText('trent is unblocked.')).toBeTruthy();
    expect(screen.queryAllByRole('alert').map((a) => a.textContent)).not.toContainEqual(
      expect.stringMatching(/not found/i),
    );
    expect(screen.getByText('You have not blocked anyone.')).toBeTruthy();
    expect(screen.queryByRole('list', { name: 'Blocked users' })).toBeNull();
  });

  it('logs out everywhere only once confirmed, then goes to the login screen', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    const { router } = renderAt(t.app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'Log out everywhere' }));
    const ask = screen.getByRole('dialog', { name: 'Log out everywhere?' });
    // Without an app lock the history warning is there too.
    expect(within(ask).getByText(/anyone who uses this browser can read them/)).toBeTruthy();
    fireEvent.click(within(ask).getByRole('button', { name: 'Cancel' }));
    expect(t.calls.some((c) => c.action === 'logoutEverywhere')).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Log out everywhere' }));
    await act(async () => {
      fireEvent.click(
        within(screen.getByRole('dialog', { name: 'Log out everywhere?' })).getByRole('button', {
          name: 'Log out everywhere',
        }),
      );
    });
    expect(t.calls).toContainEqual({ action: 'logoutEverywhere', args: [] });
    expect(router.state.location.pathname).toBe('/login');
  });

  it('erases the device only after a warning and the typed confirmation word', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    const opener = screen.getByRole('button', { name: 'Erase this device' });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole('dialog', { name: 'Erase this device?' });
    expect(dialog.textContent).toMatch(/cannot be undone/);
    const confirm = within(dialog).getByRole('button', { name: 'Erase everything' }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText('Type “erase” to confirm'), { target: { value: 'eras' } });
    expect(confirm.disabled).toBe(true);
    // Escape cancels, nothing erased, focus back on the button that opened the dialog.
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
    expect(t.calls.some((c) => c.action === 'eraseDevice')).toBe(false);

    fireEvent.click(opener);
    const again = screen.getByRole('dialog', { name: 'Erase this device?' });
    fireEvent.change(within(again).getByLabelText('Type “erase” to confirm'), {
      target: { value: ' Erase ' },
    });
    await act(async () => {
      fireEvent.click(within(again).getByRole('button', { name: 'Erase everything' }));
    });
    expect(t.calls).toContainEqual({ action: 'eraseDevice', args: [] });
  });

  it('renders the update prompt from the platform signal and applies on request', () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/chats');
    expect(screen.queryByRole('region', { name: 'App update' })).toBeNull();
    act(() => {
      t.update.value = { available: true, offlineReady: true };
    });
    const prompt = screen.getByRole('region', { name: 'App update' });
    fireEvent.click(within(prompt).getByRole('button', { name: 'Update now' }));
    expect(t.calls).toContainEqual({ action: 'applyUpdate', args: [] });
    fireEvent.click(within(prompt).getByRole('button', { name: 'Later' }));
    expect(screen.queryByRole('region', { name: 'App update' })).toBeNull();
  });

  it('shows the version, the build hash the worker reports and how to verify, in both languages', () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    const about = screen.getByRole('region', { name: 'About' });
    expect(about.textContent).toContain(`Version ${import.meta.env.VITE_APP_VERSION ?? 'dev'}`);
    expect(about.textContent).toContain('shown once the app is installed');
    expect(within(about).queryByTestId('build-hash')).toBeNull();
    const hash = 'ab'.repeat(32);
    act(() => {
      t.update.value = { ...t.update.value, buildHash: hash };
    });
    expect(within(about).getByTestId('build-hash').textContent).toBe(hash);
    expect(about.textContent).toContain(`npx secure-drop-verify ${location.origin}`);
    expect(about.textContent).toMatch(/can show a false one/);
    fireEvent.click(screen.getByRole('button', { name: 'Русский' }));
    const ru = screen.getByRole('region', { name: 'О приложении' });
    expect(ru.textContent).toContain('Хеш сборки');
    expect(within(ru).getByTestId('build-hash').textContent).toBe(hash);
  });

  it('tells the user when an update was refused because its files did not match, and offers no update', () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/chats');
    act(() => {
      t.update.value = { available: false, offlineReady: true, refused: ['index.html', 'assets/app.js'] };
    });
    const banner = screen.getByRole('region', { name: 'App update' });
    expect(within(banner).getByRole('alert').textContent).toMatch(
      /update was refused: 2 of its files do not match/,
    );
    expect(within(banner).queryByRole('button', { name: 'Update now' })).toBeNull();
    fireEvent.click(within(banner).getByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('region', { name: 'App update' })).toBeNull();
  });

  it('shows the offline state', () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/chats');
    act(() => {
      t.connection.value = 'offline';
    });
    expect(screen.getByText(/Offline — messages you write now will be sent/)).toBeTruthy();
  });
});
