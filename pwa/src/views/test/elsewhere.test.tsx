// The screen of a tab whose account is open in another tab (state/active-tab.ts), over the real
// route table: in place of any route, nothing of the account on it, and "Use here" opens it here.
import { act, fireEvent, screen } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { holdSecret, makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

describe('open in another tab', () => {
  it.each(['/chats', '/chats/bob', '/settings', '/login', '/register'])(
    '%s shows only that screen',
    (path) => {
      const t = makeTestApp({ elsewhere: 'alice' });
      holdSecret(t);
      const { router } = renderAt(t.app, path);
      expect(
        screen.getByRole('heading', { name: 'Secure Drop is open in another tab or window' }),
      ).toBeTruthy();
      expect(screen.getByText('Account: alice')).toBeTruthy();
      expect(document.body.textContent).not.toContain('secret');
      expect(screen.queryByRole('navigation')).toBeNull();
      expect(screen.queryByLabelText('Passphrase')).toBeNull();
      // The URL stays: the app opens there.
      expect(router.state.location.pathname).toBe(path);
    },
  );

  it('"Use here" opens the account in this tab, where the user was going', async () => {
    const t = makeTestApp({ elsewhere: 'alice' });
    const { router } = renderAt(t.app, '/settings');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Use here' }));
    });
    expect(t.calls.map((c) => c.action)).toContain('openHere');
    expect(
      screen.queryByRole('heading', { name: 'Secure Drop is open in another tab or window' }),
    ).toBeNull();
    expect(screen.getByRole('navigation')).toBeTruthy();
    expect(router.state.location.pathname).toBe('/settings');
  });

  it('taken back by the other tab meanwhile, "Use here" can be pressed again', async () => {
    const t = makeTestApp({ elsewhere: 'alice', takenBack: true });
    renderAt(t.app, '/chats');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Use here' }));
    });
    expect(t.calls.map((c) => c.action)).toContain('openHere');
    const again = screen.getByRole('button', { name: 'Use here' }) as HTMLButtonElement;
    expect(again.disabled).toBe(false);
  });

  it('is in Russian too', () => {
    setLanguage('ru');
    renderAt(makeTestApp({ elsewhere: 'alice' }).app, '/chats');
    expect(
      screen.getByRole('heading', { name: 'Secure Drop открыт в другой вкладке или окне' }),
    ).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Открыть здесь' })).toBeTruthy();
  });
});
