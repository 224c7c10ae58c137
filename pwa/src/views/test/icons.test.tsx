// Controls and status marks draw SVG icons, never emoji glyphs: an emoji glyph needs an emoji
// font, and without one it renders as an empty box. Only messages (what people typed) and the
// emoji picker's grid of emoji may contain emoji.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { act, fireEvent, screen } from '@testing-library/react';
import { beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { ChatMessage } from '../../state/types.ts';
import { chatIdOf, makeTestApp, renderAt, setLanguage } from './test-app.tsx';

const require = createRequire(import.meta.url);

beforeEach(() => setLanguage('en'));

const PICTOGRAPH = /[\p{Extended_Pictographic}\u2190-\u21ff\u2713\u2714]/u;

function glyphsOutsideMessages(): string[] {
  const found: string[] = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('.bubble-text, .emoji-grid, .chat-list-preview')) continue;
    if (PICTOGRAPH.test(n.textContent ?? '')) found.push(`${el.tagName}: ${n.textContent}`);
  }
  return found;
}

function app() {
  const t = makeTestApp({ signedIn: 'alice' });
  t.contacts.value = [
    { username: 'bob', chatId: chatIdOf('bob'), verified: true, keyChanged: true, addedAt: 1 },
  ];
  t.chats.value = [
    {
      contact: 'bob',
      last: { kind: 'photo', preview: '', at: Date.now(), outgoing: true },
      unread: 0,
      keyChanged: true,
    },
  ];
  const states: ChatMessage['state'][] = ['queued', 'sending', 'sent', 'delivered', 'failed'];
  t.messagesFor('bob').value = states.map((state, i) => ({
    id: `m${i}`,
    contact: 'bob',
    direction: 'out',
    at: Date.now() + i,
    state,
    body: { kind: 'text', text: `message ${i} 🙂` },
  }));
  return t;
}

describe('icons', () => {
  it.each(['/chats', '/chats/bob', '/contacts/bob/safety'])(
    '%s shows no emoji glyph outside messages',
    async (path) => {
      renderAt(app().app, path);
      await act(async () => {
        await new Promise((r) => setTimeout(r, 0));
      });
      expect(glyphsOutsideMessages()).toEqual([]);
      // Every icon is decorative: the control around it has the name.
      for (const svg of document.querySelectorAll('svg.icon'))
        expect(svg.getAttribute('aria-hidden')).toBe('true');
    },
  );

  it('the composer’s controls keep their names and draw an SVG icon each', () => {
    renderAt(app().app, '/chats/bob');
    for (const name of ['Emoji', 'Attach a photo']) {
      const button = screen.getByRole('button', { name });
      expect(button.querySelector('svg.icon')).not.toBeNull();
      expect(button.textContent?.trim()).toBe('');
    }
    expect(screen.getByRole('link', { name: 'Back to chats' }).querySelector('svg.icon')).not.toBeNull();
  });

  it('the emoji picker’s category tabs are named SVG icons', async () => {
    // The picker's data, served from the package on disk (as in emoji.test.tsx).
    vi.stubGlobal('fetch', async (input: RequestInfo | URL) => {
      const url = String(input instanceof Request ? input.url : input);
      const lang = url.match(/emoji-picker-element-data\/(en|ru)\/emojibase\/data\.json/)?.[1];
      if (!lang) return new Response('not found', { status: 404 });
      const body = await readFile(require.resolve(`emoji-picker-element-data/${lang}/emojibase/data.json`));
      return new Response(body, { headers: { 'content-type': 'application/json', etag: `"${lang}"` } });
    });
    onTestFinished(() => {
      vi.unstubAllGlobals();
    });
    const t = app();
    t.setContact('bob', { keyChanged: false });
    renderAt(t.app, '/chats/bob');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Emoji' }));
    });
    const tabs = await screen.findByRole('toolbar', { name: 'Emoji categories' }, { timeout: 15_000 });
    const buttons = [...tabs.querySelectorAll('button')];
    expect(buttons.length).toBe(10);
    for (const b of buttons) {
      expect(b.getAttribute('aria-label')).toBeTruthy();
      expect(b.querySelector('svg.icon')).not.toBeNull();
      expect(PICTOGRAPH.test(b.textContent ?? '')).toBe(false);
    }
    // Let the picker finish loading its data, so nothing is left in flight when the test ends.
    await screen.findByRole('button', { name: 'grinning face' }, { timeout: 15_000 });
  }, 20_000);
});
