// axe-core over the main screens, rendered in happy-dom. Rules that need real layout or
// rendering (colour contrast) cannot run here; the end-to-end suite in Chromium covers them.
import { act, fireEvent, render, screen } from '@testing-library/react';
import axe from 'axe-core';
import { beforeEach, describe, expect, it } from 'vitest';
import { chatIdOf, makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

async function seriousViolations() {
  const result = await axe.run(document.body, {
    rules: { 'color-contrast': { enabled: false } },
    resultTypes: ['violations'],
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

function signedIn() {
  const t = makeTestApp({ signedIn: 'alice' });
  t.contacts.value = [
    { username: 'bob', chatId: chatIdOf('bob'), verified: true, keyChanged: false, addedAt: 1 },
  ];
  t.chats.value = [
    {
      contact: 'bob',
      last: { kind: 'text', preview: 'hi', at: Date.now(), outgoing: false },
      unread: 2,
      keyChanged: false,
    },
  ];
  t.messagesFor('bob').value = [
    {
      id: 'a',
      contact: 'bob',
      direction: 'in',
      at: Date.now(),
      state: 'received',
      body: { kind: 'text', text: 'hi' },
    },
    {
      id: 'b',
      contact: 'bob',
      direction: 'out',
      at: Date.now(),
      state: 'failed',
      body: { kind: 'text', text: 'yo' },
    },
  ];
  return t;
}

describe('no serious axe-core violations', () => {
  it('the harness does catch a violation (an unlabelled input, an image without alt)', async () => {
    render(
      <main>
        <input type="text" />
        {/* biome-ignore lint/a11y/useAltText: the violation this control test must detect */}
        <img src="data:," />
      </main>,
    );
    const found = await seriousViolations();
    expect(found.some((v) => v.startsWith('label:'))).toBe(true);
    expect(found.some((v) => v.startsWith('image-alt:'))).toBe(true);
  });

  it.each(['/login', '/register'])('%s', async (path) => {
    renderAt(makeTestApp().app, path);
    expect(await seriousViolations()).toEqual([]);
  });

  it('/register, enrolment step', async () => {
    renderAt(makeTestApp().app, '/register');
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'alice' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    });
    expect(await seriousViolations()).toEqual([]);
  });

  it.each(['/chats', '/chats/bob', '/contacts/bob/safety', '/settings'])('%s', async (path) => {
    renderAt(signedIn().app, path);
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
    expect(await seriousViolations()).toEqual([]);
  });

  it('the unlock screen, after a wrong passphrase', async () => {
    renderAt(makeTestApp({ locked: 'alice' }).app, '/chats');
    fireEvent.change(screen.getByLabelText('Passphrase'), { target: { value: 'wrong passphrase' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    });
    expect(await seriousViolations()).toEqual([]);
  });

  it('the screen of an account open in another tab', async () => {
    renderAt(makeTestApp({ elsewhere: 'alice' }).app, '/chats');
    expect(await seriousViolations()).toEqual([]);
  });

  it('/settings with a lock set, and without one with the log-out warning open', async () => {
    const t = signedIn();
    t.lock.value = { kind: 'passphrase', idleMinutes: 15 };
    const view = renderAt(t.app, '/settings');
    expect(await seriousViolations()).toEqual([]);
    view.unmount();
    renderAt(signedIn().app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'Log out' }));
    expect(screen.getByRole('dialog')).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it('/settings with the erase dialog open', async () => {
    renderAt(signedIn().app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'Erase this device' }));
    expect(screen.getByRole('dialog')).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it('/chats/bob with a key-change warning, offline, and a photo open full screen', async () => {
    const t = signedIn();
    t.setContact('bob', { keyChanged: true, verified: false });
    t.connection.value = 'offline';
    const photo = { mime: 'image/jpeg' as const, width: 1, height: 1, size: 1 };
    t.messagesFor('bob').value = [
      {
        id: 'p',
        contact: 'bob',
        direction: 'in',
        at: Date.now(),
        state: 'received',
        body: { kind: 'photo', photo },
      },
    ];
    renderAt(t.app, '/chats/bob');
    act(() => {
      const view = t.photos.get('p');
      if (view) view.value = { status: 'ready', progress: 1, url: 'blob:x' };
    });
    fireEvent.click(screen.getByRole('button', { name: /Open full screen/ }));
    expect(screen.getByRole('dialog')).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it.each(['/chats/bob', '/contacts/bob/safety'])(
    '%s during a key change of a verified contact, the timeline entry and the owner’s warning',
    async (path) => {
      const t = signedIn();
      t.setContact('bob', { keyChanged: true, verified: false, verifiedBeforeChange: true });
      t.ownIdentityWarning.value = { at: Date.now() };
      t.messagesFor('bob').value = [
        {
          id: 'k',
          contact: 'bob',
          direction: 'in',
          at: Date.now(),
          state: 'received',
          body: { kind: 'keyChange' },
        },
      ];
      renderAt(t.app, path);
      await act(async () => {
        await new Promise((r) => setTimeout(r, 0));
      });
      fireEvent.click(screen.getByRole('button', { name: 'Accept without verifying…' }));
      expect(await seriousViolations()).toEqual([]);
    },
  );
  it('/settings: the re-enrolment dialog at both steps, the sessions list', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    await screen.findByRole('list', { name: 'Signed-in devices' });
    fireEvent.click(screen.getByRole('button', { name: 'Re-enrol authenticator' }));
    expect(await seriousViolations()).toEqual([]);
    fireEvent.change(screen.getByLabelText(/Current authenticator code/), { target: { value: '123456' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    });
    await screen.findByRole('img', { name: /QR code for adding alice/ });
    expect(await seriousViolations()).toEqual([]);
  });

  it('/settings: the new recovery codes dialog showing the codes', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    fireEvent.click(screen.getByRole('button', { name: 'New recovery codes' }));
    fireEvent.change(screen.getByLabelText(/Current authenticator code/), { target: { value: '123456' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Create new codes' }));
    });
    expect(screen.getByRole('list', { name: 'Recovery codes' })).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it('/login asking before erasing a device whose keys were replaced', async () => {
    const t = makeTestApp();
    t.loginConflict.value = { username: 'alice', localHistory: true };
    renderAt(t.app, '/login');
    expect(screen.getByRole('dialog', { name: 'This device holds older keys' })).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });
  it('/login on a new device: the link-or-start-over question, then the link code', async () => {
    const t = makeTestApp();
    t.loginConflict.value = { username: 'alice', localHistory: false };
    renderAt(t.app, '/login');
    expect(
      screen.getByRole('dialog', { name: 'Your account is already set up on another device' }),
    ).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Link to your other device' }));
    });
    await screen.findByRole('img', { name: 'Link code of this device' });
    expect(await seriousViolations()).toEqual([]);
  });

  it('/settings: linked devices, the link dialog and the remove dialog', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    await screen.findByRole('list', { name: 'Your devices' });
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(screen.getByRole('button', { name: 'Link a new device' }));
    fireEvent.click(screen.getByText('Use a picture of the code instead'));
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    fireEvent.click(screen.getByRole('button', { name: 'Remove Safari on iOS' }));
    expect(await seriousViolations()).toEqual([]);
  });

  it('/archives/<id>: a read-only archive of earlier keys', async () => {
    const t = signedIn();
    const at = Date.UTC(2026, 10, 3, 9, 30);
    t.archives.value = [{ id: String(at), archivedAt: at, available: true }];
    t.archiveContents.set(String(at), {
      id: String(at),
      archivedAt: at,
      chats: [
        {
          contact: 'bob',
          messages: [
            {
              id: 'in-1',
              contact: 'bob',
              direction: 'in',
              at,
              state: 'received',
              body: { kind: 'text', text: 'old' },
            },
          ],
        },
      ],
    });
    renderAt(t.app, `/archives/${at}`);
    await screen.findByText('old');
    expect(await seriousViolations()).toEqual([]);
  });
  it('/chats/bob with the block dialog open', async () => {
    const t = signedIn();
    renderAt(t.app, '/chats/bob');
    fireEvent.click(screen.getByRole('button', { name: 'Block' }));
    expect(screen.getByRole('dialog', { name: 'Block bob?' })).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });
});
