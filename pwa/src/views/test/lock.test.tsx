// The app lock's screens over the real route table: the unlock screen in place of any route,
// the wrong-passphrase message, "forgot" → erase with a warning, Settings' lock section with
// and without a lock, log out without a lock, and the passphrase at registration.
import { act, fireEvent, screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { holdSecret, makeTestApp, renderAt, setLanguage, TEST_PASSPHRASE } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

describe('locked app', () => {
  it.each(['/chats', '/chats/bob', '/settings', '/login'])('%s shows only the unlock screen', (path) => {
    const t = makeTestApp({ locked: 'alice' });
    holdSecret(t);
    const { router } = renderAt(t.app, path);
    expect(screen.getByRole('heading', { name: 'Secure Drop is locked' })).toBeTruthy();
    expect(screen.getByText('Account: alice')).toBeTruthy();
    expect(document.body.textContent).not.toContain('secret');
    expect(screen.queryByRole('navigation')).toBeNull();
    // The URL stays: unlocking lands where the user was going.
    expect(router.state.location.pathname).toBe(path);
  });

  it('a wrong passphrase says so and keeps the screen; the right one opens the app', async () => {
    const t = makeTestApp({ locked: 'alice' });
    renderAt(t.app, '/chats');
    const field = screen.getByLabelText('Passphrase');
    fireEvent.change(field, { target: { value: 'nope nope nope' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    });
    expect(screen.getByRole('alert').textContent).toBe('Wrong passphrase. Nothing was changed.');
    expect((screen.getByLabelText('Passphrase') as HTMLInputElement).value).toBe('');
    fireEvent.change(screen.getByLabelText('Passphrase'), { target: { value: TEST_PASSPHRASE } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    });
    expect(t.auth.value.status).toBe('signed-in');
    expect(screen.queryByRole('heading', { name: 'Secure Drop is locked' })).toBeNull();
  });

  it('"forgot" warns that the history on this device goes, then erases only after the typed word', async () => {
    const t = makeTestApp({ locked: 'alice' });
    const { router } = renderAt(t.app, '/chats');
    fireEvent.click(screen.getByRole('button', { name: 'Forgot the passphrase?' }));
    const dialog = screen.getByRole('dialog', { name: 'Erase this device?' });
    expect(dialog.textContent).toMatch(/unless another linked device or a backup still has it/);
    const confirm = within(dialog).getByRole('button', { name: 'Erase everything' }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText('Type “erase” to confirm'), {
      target: { value: 'erase' },
    });
    await act(async () => {
      fireEvent.click(confirm);
    });
    expect(t.calls).toContainEqual({ action: 'eraseDevice', args: [] });
    expect(router.state.location.pathname).toBe('/register');
  });

  it('a passkey lock unlocks with the passkey button', async () => {
    const t = makeTestApp({ locked: 'alice' });
    t.lock.value = { kind: 'passkey', idleMinutes: 15 };
    renderAt(t.app, '/chats');
    expect(
      screen.getByText('Your messages and keys on this device are encrypted with your passkey.'),
    ).toBeTruthy();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Unlock with passkey' }));
    });
    expect(t.calls).toContainEqual({ action: 'unlockWithPasskey', args: [] });
    expect(t.auth.value.status).toBe('signed-in');
  });

  it('a cancelled passkey says so clearly and keeps the screen locked', async () => {
    const t = makeTestApp({ locked: 'alice', passkeyCancelled: true });
    t.lock.value = { kind: 'passkey', idleMinutes: 15 };
    renderAt(t.app, '/chats');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Unlock with passkey' }));
    });
    expect(screen.getByRole('alert').textContent).toBe(
      'The passkey was not used, so the app stays locked. Nothing was changed. Try again — or, if the passkey is lost, erase this device.',
    );
    expect(t.auth.value.status).toBe('locked');
    expect(screen.getByRole('button', { name: 'Unlock with passkey' })).toBeTruthy();
  });

  it('is in Russian too', () => {
    setLanguage('ru');
    renderAt(makeTestApp({ locked: 'alice' }).app, '/chats');
    expect(screen.getByRole('heading', { name: 'Secure Drop заблокирован' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Разблокировать' })).toBeTruthy();
  });
});

describe('Settings: app lock', () => {
  it('without a lock says in plain words what that means, and sets one', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    const section = screen.getByRole('region', { name: 'App lock' });
    expect(section.textContent).toMatch(/Anyone who uses this browser, or copies its files/);
    fireEvent.change(within(section).getByLabelText('New passphrase'), {
      target: { value: TEST_PASSPHRASE },
    });
    fireEvent.change(within(section).getByLabelText('Repeat the passphrase'), {
      target: { value: 'other' },
    });
    await act(async () => {
      fireEvent.click(within(section).getByRole('button', { name: 'Set passphrase' }));
    });
    expect(within(section).getByRole('alert').textContent).toBe('The two passphrases differ.');
    expect(t.calls.some((c) => c.action === 'setPassphrase')).toBe(false);
    fireEvent.change(within(section).getByLabelText('Repeat the passphrase'), {
      target: { value: TEST_PASSPHRASE },
    });
    await act(async () => {
      fireEvent.click(within(section).getByRole('button', { name: 'Set passphrase' }));
    });
    expect(t.calls).toContainEqual({ action: 'setPassphrase', args: [null, TEST_PASSPHRASE] });
    expect(section.textContent).toMatch(/This device is locked with a passphrase/);
    expect(within(section).getByRole('button', { name: 'Lock now' })).toBeTruthy();
  });

  it('with a lock: idle time, lock now, change and remove ask for the current passphrase', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.lock.value = { kind: 'passphrase', idleMinutes: 15 };
    renderAt(t.app, '/settings');
    const section = screen.getByRole('region', { name: 'App lock' });
    const idle = within(section).getByLabelText('Lock after this long without use') as HTMLSelectElement;
    expect(idle.value).toBe('15');
    await act(async () => {
      fireEvent.change(idle, { target: { value: '5' } });
    });
    expect(t.calls).toContainEqual({ action: 'setIdleMinutes', args: [5] });
    const remove = within(section).getByRole('button', { name: 'Remove the lock' }) as HTMLButtonElement;
    expect(remove.disabled).toBe(true);
    fireEvent.change(within(section).getByLabelText('Current passphrase'), {
      target: { value: 'wrong one' },
    });
    await act(async () => {
      fireEvent.click(remove);
    });
    expect(within(section).getByRole('alert').textContent).toBe('Wrong passphrase. Nothing was changed.');
    expect(t.lock.value.kind).toBe('passphrase');
    await act(async () => {
      fireEvent.click(within(section).getByRole('button', { name: 'Lock now' }));
    });
    expect(t.auth.value.status).toBe('locked');
    expect(screen.getByRole('heading', { name: 'Secure Drop is locked' })).toBeTruthy();
  });

  it('logging out without a lock warns that the history stays readable and offers erasing', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'Log out' }));
    const dialog = screen.getByRole('dialog', { name: 'Log out without an app lock?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Erase this device instead' }));
    expect(screen.getByRole('dialog', { name: 'Erase this device?' })).toBeTruthy();
    expect(t.calls.some((c) => c.action === 'logout')).toBe(false);
  });

  it('logging out with a lock needs no warning', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.lock.value = { kind: 'passphrase', idleMinutes: 15 };
    const { router } = renderAt(t.app, '/settings');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Log out' }));
    });
    expect(t.calls).toContainEqual({ action: 'logout', args: [] });
    expect(router.state.location.pathname).toBe('/login');
  });
});

describe('registration offers the lock', () => {
  it('passes the passphrase with the first code; two different entries are refused', async () => {
    const t = makeTestApp();
    renderAt(t.app, '/register');
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'alice' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    });
    fireEvent.change(screen.getByLabelText('2. Enter the code the app shows now'), {
      target: { value: '123456' },
    });
    fireEvent.change(screen.getByLabelText('Passphrase (optional)'), { target: { value: TEST_PASSPHRASE } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    });
    expect(screen.getByRole('alert').textContent).toBe('The two passphrases differ.');
    fireEvent.change(screen.getByLabelText('Repeat the passphrase'), {
      target: { value: TEST_PASSPHRASE },
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    });
    expect(t.calls.find((c) => c.action === 'confirmRegistration')?.args).toEqual([
      '123456',
      TEST_PASSPHRASE,
    ]);
  });
});
