import { act, fireEvent, screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../state/errors.ts';
import type { ChatMessage } from '../../state/types.ts';
import { chatIdOf, makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

const DAY = 86_400_000;
const base = new Date('2026-03-10T12:00:00').getTime();

function text(id: string, body: string, at: number, patch: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id,
    contact: 'bob',
    direction: 'in',
    at,
    state: 'received',
    body: { kind: 'text', text: body },
    ...patch,
  };
}

function chatWith(messages: ChatMessage[], contactPatch = {}) {
  const t = makeTestApp({ signedIn: 'alice' });
  t.contacts.value = [
    {
      username: 'bob',
      chatId: chatIdOf('bob'),
      verified: false,
      keyChanged: false,
      addedAt: 1,
      ...contactPatch,
    },
  ];
  t.messagesFor('bob').value = messages;
  return t;
}

/** Bob's chat with one received photo, rendered, its bytes ready as a blob: URL. */
function showReceivedPhoto(photo: {
  mime: 'image/jpeg' | 'image/png';
  width: number;
  height: number;
  size: number;
}) {
  const t = chatWith([
    {
      id: 'in1',
      contact: 'bob',
      direction: 'in',
      at: base,
      state: 'received',
      body: { kind: 'photo', photo },
    },
  ]);
  renderAt(t.app, '/chats/bob');
  act(() => {
    const view = t.photos.get('in1');
    if (view) view.value = { status: 'ready', progress: 1, url: 'blob:test-photo' };
  });
  return t;
}

const composer = () => screen.getByRole('textbox', { name: 'Message to bob' }) as HTMLTextAreaElement;

describe('ChatView', () => {
  it('renders a message as text, never as HTML', () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    const t = chatWith([text('m1', hostile, base)]);
    renderAt(t.app, '/chats/bob');
    const bubble = screen.getByText(hostile);
    expect(bubble.textContent).toBe(hostile);
    expect(bubble.querySelector('img, b')).toBeNull();
    expect(document.querySelector('.message-scroller img')).toBeNull();
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('separates days with localized labels', () => {
    const t = chatWith([
      text('a', 'first', base),
      text('b', 'same day', base + 60_000),
      text('c', 'next day', base + DAY),
    ]);
    renderAt(t.app, '/chats/bob');
    const seps = [...document.querySelectorAll('.day-separator')].map((e) => e.textContent);
    expect(seps).toHaveLength(2);
    expect(seps[0]).toMatch(/March 10/);
    expect(seps[1]).toMatch(/March 11/);
  });

  it('shows the delivery state of each outgoing message and retries a failed one', async () => {
    const t = chatWith([
      text('q', 'queued', base, { direction: 'out', state: 'queued' }),
      text('s', 'sent', base + 1, { direction: 'out', state: 'sent' }),
      text('d', 'delivered', base + 2, { direction: 'out', state: 'delivered' }),
      text('f', 'failed', base + 3, { direction: 'out', state: 'failed', error: 'network' }),
    ]);
    renderAt(t.app, '/chats/bob');
    for (const label of ['Waiting for the connection', 'Sent', 'Delivered', 'Not sent']) {
      expect(screen.getAllByText(label).length).toBeGreaterThan(0);
    }
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    });
    expect(t.calls).toContainEqual({ action: 'retry', args: ['f'] });
  });

  it('says why a queued message waits when it is the relay’s limit or the recipient’s full mailbox', () => {
    const t = chatWith([
      text('m', 'to a full mailbox', base, { direction: 'out', state: 'queued', error: 'mailbox_full' }),
      text('n', 'offline', base + 1, { direction: 'out', state: 'queued' }),
    ]);
    renderAt(t.app, '/chats/bob');
    expect(screen.getByText(/too many messages waiting/)).toBeTruthy();
    expect(document.querySelectorAll('.delivery-waiting')).toHaveLength(1);
  });

  it('sends on Enter, adds a line on Shift+Enter, ignores Enter while composing (IME)', async () => {
    const t = chatWith([]);
    renderAt(t.app, '/chats/bob');
    fireEvent.change(composer(), { target: { value: 'line one' } });
    fireEvent.keyDown(composer(), { key: 'Enter', shiftKey: true });
    expect(t.calls.filter((c) => c.action === 'sendText')).toHaveLength(0);
    fireEvent.keyDown(composer(), { key: 'Enter', isComposing: true });
    expect(t.calls.filter((c) => c.action === 'sendText')).toHaveLength(0);
    fireEvent.change(composer(), { target: { value: 'Привет 👋\nline two' } });
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    expect(t.calls).toContainEqual({ action: 'sendText', args: ['bob', 'Привет 👋\nline two'] });
    expect(composer().value).toBe('');
    // The sent message appears in the history with its delivery state.
    expect(screen.getByText(/Привет 👋/).textContent).toBe('Привет 👋\nline two');
    expect(screen.getByText('Sending')).toBeTruthy();
  });

  it('clears the box on Enter: what is typed while a send is still being stored is kept, and sent next', async () => {
    const t = chatWith([]);
    // Storing a send takes a while (the outbox is IndexedDB): the first stays unresolved until
    // after the next text is typed.
    const sendText = t.app.sendText.bind(t.app);
    let release: () => void = () => undefined;
    const stored = new Promise<void>((r) => {
      release = r;
    });
    let first = true;
    t.app.sendText = async (contact, text) => {
      if (first) {
        first = false;
        await stored;
      }
      return sendText(contact, text);
    };
    renderAt(t.app, '/chats/bob');
    fireEvent.change(composer(), { target: { value: 'first' } });
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    // Cleared at once, so a second Enter sends nothing twice.
    expect(composer().value).toBe('');
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    fireEvent.change(composer(), { target: { value: 'second' } });
    await act(async () => {
      release();
      await stored;
    });
    expect(composer().value).toBe('second');
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    expect(t.calls.filter((c) => c.action === 'sendText').map((c) => c.args[1])).toEqual(['first', 'second']);
    expect(composer().value).toBe('');
  });

  it('gives the text back when a send is refused, unless something new was typed', async () => {
    const t = chatWith([]);
    let refuse: () => void = () => undefined;
    const sent: string[] = [];
    t.app.sendText = (_contact, text) => {
      sent.push(text);
      return new Promise((_, reject) => {
        refuse = () => reject(new AppError('key_change_unacknowledged'));
      });
    };
    renderAt(t.app, '/chats/bob');
    fireEvent.change(composer(), { target: { value: 'keep me' } });
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    expect(composer().value).toBe('');
    await act(async () => refuse());
    expect(composer().value).toBe('keep me');
    expect(screen.getByRole('alert').textContent).not.toBe('');
    // Refused again, after the user began a new text: theirs stays.
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    fireEvent.change(composer(), { target: { value: 'new words' } });
    await act(async () => refuse());
    expect(composer().value).toBe('new words');
    expect(sent).toEqual(['keep me', 'keep me']);
  });

  it("keeps one contact's text out of another's composer when the chat changes in place", async () => {
    // Going from one chat straight to another (a jump back through the history) keeps ChatView
    // mounted: a draft, or a refused send given back later, must not land in the other chat.
    const t = chatWith([]);
    t.contacts.value = [
      ...t.contacts.value,
      { username: 'carol', chatId: chatIdOf('carol'), verified: false, keyChanged: false, addedAt: 2 },
    ];
    let refuse: () => void = () => undefined;
    t.app.sendText = () =>
      new Promise((_, reject) => {
        refuse = () => reject(new AppError('unknown'));
      });
    const { router } = renderAt(t.app, '/chats/bob');
    const carolBox = () => screen.getByRole('textbox', { name: 'Message to carol' }) as HTMLTextAreaElement;
    fireEvent.change(composer(), { target: { value: 'for bob' } });
    fireEvent.keyDown(composer(), { key: 'Enter' });
    fireEvent.change(composer(), { target: { value: 'bob draft' } });
    await act(async () => {
      await router.navigate('/chats/carol');
    });
    expect(carolBox().value).toBe('');
    await act(async () => refuse());
    expect(carolBox().value).toBe('');
    expect(screen.getByRole('alert').textContent).toBe('');
  });

  it('does not send blank text', async () => {
    const t = chatWith([]);
    renderAt(t.app, '/chats/bob');
    fireEvent.change(composer(), { target: { value: '   \n ' } });
    await act(async () => {
      fireEvent.keyDown(composer(), { key: 'Enter' });
    });
    expect(t.calls.filter((c) => c.action === 'sendText')).toHaveLength(0);
    expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('keeps thousands of messages out of the DOM (virtualized)', () => {
    const many = Array.from({ length: 5000 }, (_, i) => text(`m${i}`, `message ${i}`, base + i * 60_000));
    const t = chatWith(many);
    renderAt(t.app, '/chats/bob');
    const rendered = document.querySelectorAll('.message-row').length;
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThan(100);
  });

  it('on a key change: warns, drops sending until acknowledged, then sends again', async () => {
    const t = chatWith([text('a', 'hi', base)], { keyChanged: true, verified: false });
    renderAt(t.app, '/chats/bob');
    const banner = screen.getByRole('alert', { name: 'Security key changed.' });
    expect(banner.textContent).toMatch(/security key of bob is new/);
    expect(composer().disabled).toBe(true);
    expect(within(banner).getByRole('link', { name: 'Compare safety numbers' }).getAttribute('href')).toBe(
      `/contacts/${chatIdOf('bob')}/safety`,
    );
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'I understand, continue' }));
    });
    expect(t.calls).toContainEqual({ action: 'acknowledgeKeyChange', args: ['bob'] });
    expect(screen.queryByRole('alert', { name: 'Security key changed.' })).toBeNull();
    expect(composer().disabled).toBe(false);
  });

  it('shows a key change as a timeline entry in the history, with its time', () => {
    const at = new Date('2026-03-10T12:03:00').getTime();
    const t = chatWith([
      text('a', 'before', base),
      { id: 'kc', contact: 'bob', direction: 'in', at, state: 'received', body: { kind: 'keyChange' } },
      text('b', 'after', base + 10 * 60_000),
    ]);
    renderAt(t.app, '/chats/bob');
    const entry = document.querySelector('.timeline-entry');
    expect(entry?.textContent).toMatch(/^The security key of bob changed — 12:03/);
    const rows = [...document.querySelectorAll('.message-row')].map((r) => r.textContent ?? '');
    expect(rows.findIndex((r) => r.includes('changed'))).toBeGreaterThan(
      rows.findIndex((r) => r.includes('before')),
    );
    expect(rows.findIndex((r) => r.includes('changed'))).toBeLessThan(
      rows.findIndex((r) => r.includes('after')),
    );
  });

  it('says in the chat when a request was accepted on another device, in English and Russian', () => {
    const at = new Date('2026-03-10T12:07:00').getTime();
    const t = chatWith([
      text('a', 'hi, a stranger here', base),
      {
        id: 'acc',
        contact: 'bob',
        direction: 'in',
        at,
        state: 'received',
        body: { kind: 'acceptedElsewhere' },
      },
    ]);
    renderAt(t.app, '/chats/bob');
    const shown = () => [...document.querySelectorAll('.timeline-entry')].map((e) => e.textContent);
    expect(shown()).toEqual([
      expect.stringMatching(
        /^12:07.*: your account’s contact list on the server names bob, so this request was accepted on another of your devices\. If that was not you, block bob\.$/,
      ),
    ]);
    expect(document.querySelectorAll('.bubble')).toHaveLength(1);
    act(() => setLanguage('ru'));
    expect(shown()).toEqual([
      expect.stringMatching(/^12:07: в списке контактов вашего аккаунта на сервере есть bob/),
    ]);
  });

  it('says in the chat when a contact came from the account’s list, not from this device, in English and Russian', () => {
    const at = new Date('2026-03-10T12:07:00').getTime();
    const t = chatWith([
      {
        id: 'add',
        contact: 'bob',
        direction: 'in',
        at,
        state: 'received',
        body: { kind: 'acceptedElsewhere', added: true },
      },
    ]);
    renderAt(t.app, '/chats/bob');
    const shown = () => [...document.querySelectorAll('.timeline-entry')].map((e) => e.textContent);
    expect(shown()).toEqual([
      expect.stringMatching(
        /^12:07.*: your account’s contact list on the server names bob, so bob was added on another of your devices, or before this one was set up\. If that was not you, block bob\.$/,
      ),
    ]);
    act(() => setLanguage('ru'));
    expect(shown()).toEqual([
      expect.stringMatching(
        /^12:07: в списке контактов вашего аккаунта на сервере есть bob, значит, bob добавили на другом/,
      ),
    ]);
  });

  it('shows messages that expired on the relay as a timeline entry, in English and Russian', () => {
    const first = new Date('2026-03-01T09:15:00').getTime();
    const last = new Date('2026-03-02T18:40:00').getTime();
    const entry = (count: number, from: number) =>
      ({
        id: `ex${count}`,
        contact: 'bob',
        direction: 'in',
        at: last,
        state: 'received',
        body: { kind: 'expired', count, firstSentAt: from, lastSentAt: last },
      }) as const;
    const t = chatWith([text('a', 'before', base), entry(3, first)]);
    renderAt(t.app, '/chats/bob');
    const shown = () => [...document.querySelectorAll('.timeline-entry')].map((e) => e.textContent);
    expect(shown()).toEqual([
      expect.stringMatching(
        /^3 messages from bob, sent between Mar 1, 2026, 9:15.AM and Mar 2, 2026, 6:40.PM, waited on the server too long and were deleted before this device received them\. Ask bob to send them again\.$/,
      ),
    ]);
    // Not a message: no bubble, no "new message" announcement.
    expect(document.querySelectorAll('.bubble')).toHaveLength(1);
    act(() => setLanguage('ru'));
    expect(shown()[0]).toMatch(
      /^3 сообщения от bob, отправленные между 1 мар\. 2026 г\., 09:15 и 2 мар\. 2026 г\., 18:40,/,
    );
    act(() => {
      t.messagesFor('bob').value = [entry(1, last), entry(5, first)];
    });
    expect(shown()).toEqual([
      expect.stringMatching(/^1 сообщение от bob, отправленное 2 мар\. 2026 г\., 18:40, слишком долго ждало/),
      expect.stringMatching(/^5 сообщений от bob, отправленных между/),
    ]);
  });

  it('a message request: accept, delete or block; no sending until accepted', async () => {
    const t = chatWith([text('a', 'hello?', base)], { request: true });
    renderAt(t.app, '/chats/bob');
    const banner = screen.getByRole('region', { name: 'Message request from bob.' });
    expect(composer().disabled).toBe(true);
    expect(screen.getByText('Accept the request above to reply.')).toBeTruthy();
    for (const name of ['Accept', 'Delete', 'Block'])
      expect(within(banner).getByRole('button', { name })).toBeTruthy();
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'Block' }));
    });
    expect(t.calls).toContainEqual({ action: 'blockContact', args: ['bob'] });
  });

  it('a chat blocked on another device: its history stays, nothing can be sent, unblock or delete, in both languages', async () => {
    const t = chatWith([text('a', 'kept here', base)], { blocked: true, request: true });
    renderAt(t.app, '/chats/bob');
    act(() => setLanguage('ru'));
    const ru = screen.getByRole('region', { name: 'Вы заблокировали bob.' });
    expect(ru.textContent).toContain('Переписка останется на этом устройстве, пока вы её не удалите.');
    for (const name of ['Разблокировать', 'Удалить чат'])
      expect(within(ru).getByRole('button', { name })).toBeTruthy();
    act(() => setLanguage('en'));
    const banner = screen.getByRole('region', { name: 'You blocked bob.' });
    expect(banner.textContent).toContain('This chat stays on this device until you delete it.');
    expect(screen.getByText('kept here')).toBeTruthy();
    expect(composer().disabled).toBe(true);
    expect(screen.getByText('Nothing can be sent to a user you blocked.')).toBeTruthy();
    // Neither the request's choices nor the header's Block: it is blocked already.
    expect(screen.queryByRole('region', { name: 'Message request from bob.' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Block' })).toBeNull();
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'Unblock' }));
    });
    expect(t.calls).toContainEqual({ action: 'unblock', args: ['bob'] });
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'Delete chat' }));
    });
    expect(t.calls).toContainEqual({ action: 'removeContact', args: ['bob'] });
  });

  it('marks the chat read on open and announces a new incoming message', () => {
    const t = chatWith([text('a', 'old', base)]);
    renderAt(t.app, '/chats/bob');
    expect(t.calls).toContainEqual({ action: 'markRead', args: ['bob'] });
    const live = document.querySelector('[aria-live="polite"][aria-atomic="true"]') as HTMLElement;
    expect(live.textContent).toBe('');
    act(() => {
      t.messagesFor('bob').value = [...t.messagesFor('bob').value, text('b', 'fresh news', base + 1000)];
    });
    expect(live.textContent).toBe('New message from bob: fresh news');
  });

  it('shows photo download progress, and upload progress with cancel', () => {
    const photo = { mime: 'image/jpeg' as const, width: 10, height: 10, size: 100 };
    const t = chatWith([
      {
        id: 'in1',
        contact: 'bob',
        direction: 'in',
        at: base,
        state: 'received',
        body: { kind: 'photo', photo },
      },
      {
        id: 'out1',
        contact: 'bob',
        direction: 'out',
        at: base + 1,
        state: 'sending',
        progress: 0.25,
        body: { kind: 'photo', photo },
      },
    ]);
    renderAt(t.app, '/chats/bob');
    const bars = screen.getAllByRole('progressbar');
    expect(bars.map((b) => b.getAttribute('aria-label'))).toContain('Uploading');
    expect(bars.map((b) => b.getAttribute('aria-label'))).toContain('Downloading');
    expect(screen.getByText('Uploading: 25%')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(t.calls).toContainEqual({ action: 'cancelSend', args: ['out1'] });
  });

  it('opens a received photo full screen; Escape closes it and focus returns', () => {
    showReceivedPhoto({ mime: 'image/png', width: 10, height: 10, size: 100 });
    const thumb = screen.getByRole('button', { name: 'Open full screen: Photo from bob' });
    thumb.focus();
    fireEvent.click(thumb);
    const dialog = screen.getByRole('dialog', { name: 'Photo from bob' });
    expect(dialog.contains(document.activeElement)).toBe(true);
    expect(within(dialog).getByRole('link', { name: 'Save photo' }).getAttribute('download')).toMatch(
      /\.png$/,
    );
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(thumb);
  });

  it('renders the photo viewer in a portal on <body>, outside the transformed message row', () => {
    const t = showReceivedPhoto({ mime: 'image/jpeg', width: 1200, height: 900, size: 100 });
    fireEvent.click(screen.getByRole('button', { name: 'Open full screen: Photo from bob' }));
    const dialog = screen.getByRole('dialog', { name: 'Photo from bob' });
    expect(dialog.closest('.message-row')).toBeNull();
    expect(dialog.closest('.message-scroller')).toBeNull();
    expect(dialog.parentElement?.parentElement).toBe(document.body);
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    // Tab cycles inside: from Close (last) to Save (first), and back with Shift+Tab.
    const save = within(dialog).getByRole('link', { name: 'Save photo' });
    const close = within(dialog).getByRole('button', { name: 'Close' });
    expect(document.activeElement).toBe(save);
    close.focus();
    fireEvent.keyDown(document, { key: 'Tab' });
    expect(document.activeElement).toBe(save);
    fireEvent.keyDown(document, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(close);
    // A re-render of the chat (a new message) leaves focus where it is.
    act(() => {
      t.messagesFor('bob').value = [...t.messagesFor('bob').value, text('m2', 'hi', base + 1000)];
    });
    expect(document.activeElement).toBe(close);
    fireEvent.click(close);
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('closes the photo viewer with a tap beside the photo and with a vertical swipe, not a tap on it', () => {
    showReceivedPhoto({ mime: 'image/jpeg', width: 800, height: 600, size: 100 });
    const open = () => {
      fireEvent.click(screen.getByRole('button', { name: 'Open full screen: Photo from bob' }));
      const dialog = screen.getByRole('dialog', { name: 'Photo from bob' });
      return {
        stage: dialog.querySelector('.photo-viewer-stage') as HTMLElement,
        img: within(dialog).getByRole('img', { name: 'Photo from bob' }),
      };
    };
    const pointer = (el: HTMLElement, type: string, x: number, y: number, target = el) =>
      fireEvent(
        target,
        new PointerEvent(type, { bubbles: true, clientX: x, clientY: y, pointerId: 1, isPrimary: true }),
      );
    let v = open();
    pointer(v.stage, 'pointerdown', 100, 100, v.img);
    pointer(v.stage, 'pointerup', 102, 101, v.img);
    expect(screen.queryByRole('dialog')).not.toBeNull();
    pointer(v.stage, 'pointerdown', 5, 5);
    pointer(v.stage, 'pointerup', 5, 5);
    expect(screen.queryByRole('dialog')).toBeNull();
    v = open();
    pointer(v.stage, 'pointerdown', 100, 100, v.img);
    pointer(v.stage, 'pointerup', 110, 260, v.img);
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('reserves each photo’s box from its width and height before the photo loads', () => {
    const wide = { mime: 'image/jpeg' as const, width: 1600, height: 900, size: 100 };
    const tall = { mime: 'image/jpeg' as const, width: 600, height: 1200, size: 100 };
    const t = chatWith([
      {
        id: 'w',
        contact: 'bob',
        direction: 'in',
        at: base,
        state: 'received',
        body: { kind: 'photo', photo: wide },
      },
      {
        id: 't',
        contact: 'bob',
        direction: 'in',
        at: base + 1,
        state: 'received',
        body: { kind: 'photo', photo: tall },
      },
    ]);
    renderAt(t.app, '/chats/bob');
    const boxes = [...document.querySelectorAll<HTMLElement>('.photo-box')];
    expect(boxes).toHaveLength(2);
    const [w, h] = boxes as [HTMLElement, HTMLElement];
    const ratioOf = (el: HTMLElement) => {
      const [a = '', b = '1'] = el.style.aspectRatio.split('/');
      return Number(a) / Number(b);
    };
    expect(ratioOf(w)).toBeCloseTo(16 / 9, 3);
    expect(ratioOf(h)).toBeCloseTo(0.5, 3);
    // (Widths use min(), which happy-dom does not parse; the e2e suite measures them in Chromium.)
    // The same box holds the photo once it is decrypted.
    act(() => {
      const view = t.photos.get('w');
      if (view) view.value = { status: 'ready', progress: 1, url: 'blob:w' };
    });
    expect(document.querySelector('.photo-box img')?.closest('.photo-box')).toBe(w);
  });

  it('offers to add someone who is not a contact when their chat is opened by address', async () => {
    const t = chatWith([]);
    t.contacts.value = [];
    renderAt(t.app, '/chats/bob');
    const banner = screen.getByRole('region', { name: 'bob is not in your contacts.' });
    await act(async () => {
      fireEvent.click(within(banner).getByRole('button', { name: 'Add' }));
    });
    expect(t.calls).toContainEqual({ action: 'addContact', args: ['bob'] });
    expect(screen.queryByRole('region', { name: 'bob is not in your contacts.' })).toBeNull();
  });

  it('attaches a photo from the file picker and explains a rejected file', async () => {
    const t = chatWith([]);
    renderAt(t.app, '/chats/bob');
    const input = document.querySelector('input[type="file"]') as HTMLInputElement;
    expect(input.accept).toBe('image/jpeg,image/png,image/webp,image/gif');
    const jpeg = new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0])], 'cat.jpg', { type: 'image/jpeg' });
    await act(async () => {
      fireEvent.change(input, { target: { files: [jpeg] } });
    });
    expect(t.calls).toContainEqual({ action: 'sendPhoto', args: ['bob', jpeg] });
    t.app.sendPhoto = async () => {
      throw new AppError('unsupported_image');
    };
    await act(async () => {
      fireEvent.change(input, { target: { files: [new File(['<svg/>'], 'x.png', { type: 'image/png' })] } });
    });
    expect(screen.getByText('Only JPEG, PNG, WebP and GIF pictures can be sent.')).toBeTruthy();
  });
  it('blocks an existing contact from the chat after a confirmation, then leaves the chat', async () => {
    const t = chatWith([text('a', 'hi', Date.now())]);
    const { router } = renderAt(t.app, '/chats/bob');
    fireEvent.click(screen.getByRole('button', { name: 'Block' }));
    const dialog = screen.getByRole('dialog', { name: 'Block bob?' });
    // Cancel blocks nothing.
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(t.calls.some((c) => c.action === 'blockContact')).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Block' }));
    await act(async () => {
      fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Block' }));
    });
    expect(t.calls).toContainEqual({ action: 'blockContact', args: ['bob'] });
    expect(router.state.location.pathname).toBe('/chats');
  });

  it('near the length limit says how much is left; past it, how much too much, and Send is off', () => {
    const t = chatWith([]);
    renderAt(t.app, '/chats/bob');
    const box = composer();
    const send = () => screen.getByRole('button', { name: /^(Send|Отправить)$/ }) as HTMLButtonElement;
    const count = () => {
      const p = document.getElementById(box.getAttribute('aria-describedby')?.split(' ')[1] ?? '');
      return p?.hidden ? null : p?.textContent;
    };
    // Announced to screen readers only once over the limit, not on every key near it.
    const announced = () => box.closest('.composer-wrap')?.querySelector('[role=status]')?.textContent;
    // No maxLength: a paste is never cut without a word (browsers count maxLength differently).
    expect(box.maxLength).toBe(-1);
    fireEvent.change(box, { target: { value: 'a'.repeat(3799) } });
    expect(count()).toBeNull();
    fireEvent.change(box, { target: { value: 'a'.repeat(3800) } });
    expect(count()).toBe('200 characters left');
    fireEvent.change(box, { target: { value: 'a'.repeat(3999) } });
    expect(count()).toBe('1 character left');
    fireEvent.change(box, { target: { value: 'a'.repeat(4000) } });
    expect([count(), announced(), send().disabled]).toEqual(['0 characters left', '', false]);
    fireEvent.change(box, { target: { value: 'a'.repeat(4005) } });
    expect([count(), announced(), send().disabled]).toEqual([
      '5 characters too many',
      'A message can be at most 4000 characters.',
      true,
    ]);
    // Enter does not send it either; the text stays for the user to shorten.
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(t.calls.filter((c) => c.action === 'sendText')).toEqual([]);
    expect(box.value).toHaveLength(4005);
    act(() => setLanguage('ru'));
    expect(count()).toBe('Лишних 5 символов');
    fireEvent.change(box, { target: { value: 'a'.repeat(3998) } });
    expect(count()).toBe('Осталось 2 символа');
    fireEvent.change(box, { target: { value: 'a'.repeat(4001) } });
    expect(count()).toBe('Лишний 1 символ');
  });

  it('a URL naming the contact, in any spelling, is replaced by the chat’s id: no name in the address or the title', () => {
    const t = chatWith([text('a', 'hi', base)]);
    const { router } = renderAt(t.app, '/chats/Bob');
    // The browser keeps addresses and titles in its History outside the encrypted store.
    expect(router.state.location.pathname).toBe(`/chats/${chatIdOf('bob')}`);
    expect(document.title).toBe('Chat · Secure Drop');
    expect(screen.queryByText('bob is not in your contacts.')).toBeNull();
    expect(screen.getByText('hi')).toBeTruthy();
    act(() => {
      void router.navigate('/contacts/BOB/safety');
    });
    expect(router.state.location.pathname).toBe(`/contacts/${chatIdOf('bob')}/safety`);
    expect(document.title).toBe('Safety number · Secure Drop');
  });

  it('a chat’s address whose chat is gone (deleted here or elsewhere) leads to the chat list', () => {
    const t = chatWith([text('a', 'hi', base)]);
    const { router } = renderAt(t.app, `/chats/${chatIdOf('bob')}`);
    expect(screen.getByText('hi')).toBeTruthy();
    act(() => {
      t.contacts.value = [];
    });
    expect(router.state.location.pathname).toBe('/chats');
  });

  it('someone not a contact keeps their name in the address: there is no chat to name instead', () => {
    const t = chatWith([]);
    t.contacts.value = [];
    const { router } = renderAt(t.app, '/chats/Carol');
    expect(router.state.location.pathname).toBe('/chats/carol');
    expect(screen.getByText('carol is not in your contacts.')).toBeTruthy();
  });

  it('a message request offers its own block, not a second one in the header', () => {
    const t = chatWith([text('a', 'hi', Date.now())], { request: true });
    renderAt(t.app, '/chats/bob');
    expect(screen.getAllByRole('button', { name: 'Block' })).toHaveLength(1);
  });
});
