import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { act, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chatIdOf, makeTestApp, renderAt, setLanguage } from '../views/test/test-app.tsx';

// The picker fetches its data from our own origin. Here "the origin" is the real data file of
// emoji-picker-element-data read from disk; nothing else is served.
const require = createRequire(import.meta.url);
const realFetch = globalThis.fetch;
beforeEach(() => {
  setLanguage('en');
  globalThis.fetch = (async (input: RequestInfo | URL) => {
    const url = String(input instanceof Request ? input.url : input);
    const m = url.match(/emoji-picker-element-data\/(en|ru)\/emojibase\/data\.json/);
    if (!m) return new Response('not found', { status: 404 });
    const body = await readFile(require.resolve(`emoji-picker-element-data/${m[1]}/emojibase/data.json`));
    return new Response(body, { headers: { 'content-type': 'application/json', etag: `"${m[1]}"` } });
  }) as typeof fetch;
});
afterEach(() => {
  globalThis.fetch = realFetch;
});

function openChat() {
  const t = makeTestApp({ signedIn: 'alice' });
  t.contacts.value = [
    { username: 'bob', chatId: chatIdOf('bob'), verified: false, keyChanged: false, addedAt: 1 },
  ];
  renderAt(t.app, '/chats/bob');
  return t;
}

describe('emoji picker in the composer', () => {
  it('opens lazily and inserts the picked emoji at the cursor', async () => {
    const t = openChat();
    const textbox = screen.getByRole('textbox', { name: 'Message to bob' }) as HTMLTextAreaElement;
    fireEvent.change(textbox, { target: { value: 'hi !' } });
    textbox.setSelectionRange(3, 3);
    const button = screen.getByRole('button', { name: 'Emoji' });
    await act(async () => {
      fireEvent.click(button);
    });
    const picker = await screen.findByRole('region', { name: 'Emoji' }, { timeout: 10_000 });
    const grinning = await within(picker).findByRole(
      'button',
      { name: 'grinning face' },
      { timeout: 10_000 },
    );
    fireEvent.click(grinning);
    expect(textbox.value).toBe('hi 😀!');
    await act(async () => {
      fireEvent.keyDown(textbox, { key: 'Enter' });
    });
    expect(t.calls).toContainEqual({ action: 'sendText', args: ['bob', 'hi 😀!'] });
  }, 20_000);

  it('Enter in the search field picks the best match and does not send the message', async () => {
    const t = openChat();
    const textbox = screen.getByRole('textbox', { name: 'Message to bob' }) as HTMLTextAreaElement;
    fireEvent.change(textbox, { target: { value: 'ok ' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Emoji' }));
    });
    const picker = await screen.findByRole('region', { name: 'Emoji' }, { timeout: 10_000 });
    const search = within(picker).getByRole('searchbox', { name: 'Search emoji' });
    fireEvent.change(search, { target: { value: 'thumbs up' } });
    await within(picker).findByRole('button', { name: 'thumbs up' }, { timeout: 10_000 });
    fireEvent.keyDown(search, { key: 'Enter' });
    expect(textbox.value).toMatch(/^ok 👍\uFE0F?$/);
    expect(t.calls.some((c) => c.action === 'sendText')).toBe(false);
  }, 20_000);

  it('closes on Escape with focus back on its button', async () => {
    openChat();
    const button = screen.getByRole('button', { name: 'Emoji' });
    await act(async () => {
      fireEvent.click(button);
    });
    expect(button.getAttribute('aria-expanded')).toBe('true');
    const picker = await screen.findByRole('region', { name: 'Emoji' }, { timeout: 10_000 });
    fireEvent.keyDown(picker, { key: 'Escape' });
    expect(screen.queryByRole('region', { name: 'Emoji' })).toBeNull();
    expect(document.activeElement).toBe(button);
  });
});
