import { screen } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

describe('NotFoundView', () => {
  it('signed in, keeps the navigation to the chats and settings', () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/no/such/page');
    expect(screen.getByRole('heading', { level: 1, name: 'Page not found' })).toBeTruthy();
    const nav = screen.getByRole('navigation', { name: /./ });
    expect(nav.textContent).toContain('Chats');
    expect(nav.textContent).toContain('Settings');
    expect(screen.getByRole('link', { name: 'Go to the start page' }).getAttribute('href')).toBe('/');
  });

  it('signed out, shows the public frame with the language switch and no navigation', () => {
    const t = makeTestApp({ signedIn: null });
    renderAt(t.app, '/no/such/page');
    expect(screen.getByRole('heading', { level: 1, name: 'Page not found' })).toBeTruthy();
    expect(screen.queryByRole('navigation')).toBeNull();
    expect(screen.getByRole('link', { name: 'Go to the start page' })).toBeTruthy();
  });
});
