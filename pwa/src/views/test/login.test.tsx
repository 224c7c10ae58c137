import { act, cleanup, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../state/errors.ts';
import { pendingRecoveryCodes } from '../recovery.ts';
import { makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));
afterEach(() => vi.useRealTimers());

/** Fills the login form with `username` and a code, and submits it. */
async function logInAs(username: string): Promise<void> {
  fireEvent.change(screen.getByLabelText('Username'), { target: { value: username } });
  fireEvent.change(screen.getByLabelText('Code from your authenticator app'), {
    target: { value: '123456' },
  });
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
  });
}

async function tryLogin(failWith: AppError | null, code = '123456') {
  const t = makeTestApp();
  if (failWith) {
    t.app.login = async (username, c) => {
      t.calls.push({ action: 'login', args: [username, c] });
      throw failWith;
    };
  }
  renderAt(t.app, '/login');
  fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'Bob' } });
  fireEvent.change(screen.getByLabelText('Code from your authenticator app'), { target: { value: code } });
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
  });
  return t;
}

describe('LoginView', () => {
  it('logs in with username and code, then lands on the chats', async () => {
    const t = await tryLogin(null);
    expect(t.calls).toContainEqual({ action: 'login', args: ['bob', '123456'] });
    expect(await screen.findByRole('heading', { name: 'Chats', level: 1 })).toBeTruthy();
  });

  it.each([
    [new AppError('invalid_code'), /The code is not right/],
    [new AppError('code_reused'), /already been used\. Wait for the next one/],
    [new AppError('unknown_user'), /no account with this username/],
    [new AppError('network'), /No connection to the server/],
  ])('explains %s', async (err, text) => {
    await tryLogin(err);
    expect(screen.getByRole('alert').textContent).toMatch(text);
    // The code field is cleared for the next attempt.
    expect((screen.getByLabelText('Code from your authenticator app') as HTMLInputElement).value).toBe('');
  });

  it('goes back to the chat a signed-out visit was going to, once logged in; never off the app', async () => {
    for (const [visited, landed] of [
      ['/chats/bob', '/chats/bob'],
      ['/settings', '/settings'],
    ] as const) {
      const t = makeTestApp();
      const { router } = renderAt(t.app, visited);
      expect(router.state.location.pathname).toBe('/login');
      await logInAs('alice');
      expect(router.state.location.pathname).toBe(landed);
      cleanup();
    }
    // A return path that is not the app's own signed-in area is not followed.
    const t = makeTestApp();
    const { router } = renderAt(t.app, '/login');
    await act(async () => {
      await router.navigate('/login', { state: { from: '//evil.example/chats' } });
    });
    await logInAs('alice');
    expect(router.state.location.pathname).toBe('/chats');
  });

  it('after a session ended on a chat, goes back there for the same account only (a shared browser)', async () => {
    for (const [next, landed] of [
      ['carol', '/chats'],
      ['alice', '/chats/bob'],
    ] as const) {
      const t = makeTestApp({ signedIn: 'alice' });
      const { router } = renderAt(t.app, '/chats/bob');
      // The relay ends alice's session while her chat with bob is open (state/app.ts endSession).
      await act(async () => {
        t.auth.value = { status: 'signed-out', username: null };
        t.sessionEnded.value = 'alice';
      });
      expect(router.state.location.pathname).toBe('/login');
      await logInAs(next);
      expect(router.state.location.pathname, next).toBe(landed);
      cleanup();
    }
  });

  it('after the user’s own logout, the next login starts at the chats, not where it was', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    const { router } = renderAt(t.app, '/settings');
    await act(async () => {
      t.auth.value = { status: 'signed-out', username: null };
    });
    expect(router.state.location.pathname).toBe('/login');
    await logInAs('alice');
    expect(router.state.location.pathname).toBe('/chats');
  });

  it('says why when the relay ended the session here, with the name filled in', () => {
    const t = makeTestApp();
    t.sessionEnded.value = 'alice';
    renderAt(t.app, '/login');
    expect(screen.getByRole('status').textContent).toMatch(/The session of alice on this device has ended/);
    expect((screen.getByLabelText('Username') as HTMLInputElement).value).toBe('alice');
  });

  it('says nothing of the kind after the user’s own logout', () => {
    renderAt(makeTestApp().app, '/login');
    expect(screen.queryByText(/on this device has ended/)).toBeNull();
    expect((screen.getByLabelText('Username') as HTMLInputElement).value).toBe('');
  });

  it('shows a lockout with a live countdown and blocks the button until it ends', async () => {
    vi.useFakeTimers({
      now: new Date('2026-11-25T10:00:00Z'),
      toFake: ['Date', 'setInterval', 'clearInterval'],
    });
    await tryLogin(new AppError('locked_out', { retryAfter: 125 }));
    expect(screen.getByRole('alert').textContent).toMatch(/logging in to this account is paused/);
    expect(screen.getByText('You can try again in 2:05.')).toBeTruthy();
    const submit = screen.getByRole('button', { name: 'Log in' }) as HTMLButtonElement;
    expect(submit.disabled).toBe(true);
    act(() => {
      vi.advanceTimersByTime(5000);
    });
    expect(screen.getByText('You can try again in 2:00.')).toBeTruthy();
    act(() => {
      vi.advanceTimersByTime(120_000);
    });
    expect(screen.queryByText(/You can try again in/)).toBeNull();
    expect(submit.disabled).toBe(false);
  });

  it('switches to a recovery code and sends it as typed', async () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    fireEvent.click(screen.getByRole('button', { name: /Use a recovery code/ }));
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'bob' } });
    fireEvent.change(screen.getByLabelText('Recovery code'), { target: { value: 'aaaa-bbbb-cccc' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    });
    expect(t.calls).toContainEqual({ action: 'login', args: ['bob', 'aaaa-bbbb-cccc'] });
  });

  it('says a rejected recovery code is invalid or used', async () => {
    const t = makeTestApp();
    t.app.login = async () => {
      throw new AppError('invalid_code');
    };
    renderAt(t.app, '/login');
    fireEvent.click(screen.getByRole('button', { name: /Use a recovery code/ }));
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'bob' } });
    fireEvent.change(screen.getByLabelText('Recovery code'), { target: { value: 'zzzz-zzzz-zzzz' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    });
    expect(screen.getByRole('alert').textContent).toBe(
      'This recovery code is not valid or has already been used.',
    );
  });

  it('forgets recovery codes left from an unconfirmed registration once signed out', () => {
    pendingRecoveryCodes.value = ['aaaa-bbbb-cccc-dddd'];
    renderAt(makeTestApp().app, '/login');
    expect(pendingRecoveryCodes.value).toBeNull();
  });
});
