import { act, fireEvent, screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

describe('the owner’s identity warning', () => {
  it('shows on every signed-in screen with "log out everywhere" one tap away, until dismissed', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.ownIdentityWarning.value = { at: Date.UTC(2026, 2, 10, 12, 3) };
    renderAt(t.app, '/settings');
    const banner = screen.getByRole('alert', { name: 'Your account’s security key was replaced.' });
    expect(banner.textContent).toMatch(/If this was not you: log out everywhere now/);
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'Log out everywhere' }));
    });
    expect(t.calls).toContainEqual({ action: 'logoutEverywhere', args: [] });
  });

  it('"It was me" dismisses it; without a warning nothing shows', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    t.ownIdentityWarning.value = { at: Date.now() };
    renderAt(t.app, '/chats');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'It was me' }));
    });
    expect(screen.queryByRole('alert', { name: 'Your account’s security key was replaced.' })).toBeNull();
  });
});
