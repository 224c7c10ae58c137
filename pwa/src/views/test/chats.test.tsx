import { act, fireEvent, screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../state/errors.ts';
import { chatIdOf, makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

const now = Date.now();

function withChats() {
  const t = makeTestApp({ signedIn: 'alice' });
  t.contacts.value = [
    { username: 'bob', chatId: chatIdOf('bob'), verified: true, keyChanged: false, addedAt: 1 },
    { username: 'carol', chatId: chatIdOf('carol'), verified: false, keyChanged: true, addedAt: 2 },
  ];
  t.chats.value = [
    {
      contact: 'bob',
      last: { kind: 'text', preview: 'See you at 5 🙂', at: now, outgoing: false },
      unread: 3,
      keyChanged: false,
    },
    {
      contact: 'carol',
      last: { kind: 'photo', preview: '', at: now - 3 * 86_400_000, outgoing: true },
      unread: 0,
      keyChanged: true,
    },
  ];
  return t;
}

describe('ChatsView', () => {
  it('lists chats with preview, time, unread count and verified mark', () => {
    const t = withChats();
    renderAt(t.app, '/chats');
    const items = within(screen.getByRole('list', { name: 'Chats' })).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    const bob = items[0] as HTMLElement;
    expect(bob.textContent).toContain('See you at 5 🙂');
    expect(within(bob).getByText('3 unread messages')).toBeTruthy();
    expect(within(bob).getByText('Verified')).toBeTruthy();
    expect(bob.querySelector('time')?.textContent).toMatch(/\d{1,2}:\d{2}/);
    expect(within(bob).getByRole('link').getAttribute('href')).toBe(`/chats/${chatIdOf('bob')}`);
    const carol = items[1] as HTMLElement;
    expect(carol.textContent).toContain('You: Photo');
    expect(carol.textContent).toContain('security key changed');
    expect(carol.querySelector('.unread-badge')).toBeNull();
  });

  it('marks a chat blocked on another device first on its preview line, in English and Russian', () => {
    const t = withChats();
    t.contacts.value = t.contacts.value.map((c) => (c.username === 'bob' ? { ...c, blocked: true } : c));
    renderAt(t.app, '/chats');
    const preview = () => document.querySelector('.chat-list-item .chat-list-preview');
    expect(preview()?.firstElementChild?.textContent).toBe('Blocked');
    expect(preview()?.textContent).toBe('BlockedSee you at 5 🙂');
    act(() => setLanguage('ru'));
    expect(preview()?.firstElementChild?.textContent).toBe('Заблокирован');
  });

  it('says in the list that messages of a chat expired unread, in English and Russian', () => {
    const t = withChats();
    t.chats.value = t.chats.value.map((c) => (c.contact === 'bob' ? { ...c, unread: 0, expired: 3 } : c));
    renderAt(t.app, '/chats');
    const bob = within(screen.getByRole('list', { name: 'Chats' })).getAllByRole(
      'listitem',
    )[0] as HTMLElement;
    expect(bob.querySelector('.chat-list-preview')?.textContent).toBe('3 messages never arrived');
    expect(bob.querySelector('.chat-list-preview .icon-warning')).not.toBeNull();
    act(() => setLanguage('ru'));
    expect(bob.querySelector('.chat-list-preview')?.textContent).toBe('3 сообщения не дошли');
  });

  it('lists a chat whose peer has no contact entry (a message from a stranger) like any other', () => {
    const t = withChats();
    t.chats.value = [
      {
        contact: 'stranger',
        last: { kind: 'text', preview: 'hello?', at: now + 1000, outgoing: false },
        unread: 1,
        keyChanged: false,
      },
      ...t.chats.value,
    ];
    renderAt(t.app, '/chats');
    const items = within(screen.getByRole('list', { name: 'Chats' })).getAllByRole('listitem');
    expect(items).toHaveLength(3);
    const first = items[0] as HTMLElement;
    expect(first.textContent).toContain('stranger');
    expect(first.textContent).toContain('hello?');
    expect(within(first).getByText('1 unread message')).toBeTruthy();
    expect(within(first).queryByText('Verified')).toBeNull();
    expect(within(first).getByRole('link').getAttribute('href')).toBe('/chats/stranger');
    // The other chats are still there, with their contact details.
    expect(within(items[1] as HTMLElement).getByText('Verified')).toBeTruthy();
  });

  it('opens the chat of a peer with no contact entry: history shows and adding is offered', () => {
    const t = withChats();
    t.messagesFor('stranger').value = [
      {
        id: 's1',
        contact: 'stranger',
        direction: 'in',
        at: now,
        state: 'received',
        body: { kind: 'text', text: 'hello?' },
      },
    ];
    renderAt(t.app, '/chats/stranger');
    expect(screen.getByRole('heading', { level: 1, name: 'stranger' })).toBeTruthy();
    expect(screen.getByText('hello?')).toBeTruthy();
    expect(screen.getByRole('region', { name: 'stranger is not in your contacts.' })).toBeTruthy();
  });

  it('uses Russian plural forms for the unread count', () => {
    setLanguage('ru');
    const t = withChats();
    t.chats.value = [{ ...(t.chats.value[0] as (typeof t.chats.value)[0]), unread: 22 }];
    renderAt(t.app, '/chats');
    expect(screen.getByText('22 непрочитанных сообщения')).toBeTruthy();
  });

  it('adds a contact by username and offers to open the chat', async () => {
    const t = withChats();
    renderAt(t.app, '/chats');
    fireEvent.change(screen.getByLabelText('Their username'), { target: { value: ' Dave ' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    });
    expect(t.calls).toContainEqual({ action: 'addContact', args: ['dave'] });
    expect(screen.getByText('dave is in your contacts.')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Open the chat' }).getAttribute('href')).toBe(
      `/chats/${chatIdOf('dave')}`,
    );
  });

  it('keeps a name typed while the previous one is being added', async () => {
    const t = withChats();
    let answer: () => void = () => undefined;
    const app = {
      ...t.app,
      addContact: (username: string) =>
        new Promise<void>((resolve) => {
          answer = () => void t.app.addContact(username).then(resolve);
        }),
    };
    renderAt(app, '/chats');
    const box = () => screen.getByLabelText('Their username') as HTMLInputElement;
    fireEvent.change(box(), { target: { value: 'dave' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    });
    // The relay has not answered yet; the user types the next name.
    fireEvent.change(box(), { target: { value: 'erin' } });
    await act(async () => answer());
    expect(screen.getByText('dave is in your contacts.')).toBeTruthy();
    expect(box().value).toBe('erin');
  });

  it('explains why a contact cannot be added', async () => {
    const t = withChats();
    // The real app's answer for a name with no account (state/error-map.ts toAddContactError).
    const app = {
      ...t.app,
      addContact: async () => {
        throw new AppError('unknown_user');
      },
    };
    renderAt(app, '/chats');
    fireEvent.change(screen.getByLabelText('Their username'), { target: { value: 'nobody' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    });
    expect(screen.getByText('There is no account with this username.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Their username'), { target: { value: 'alice' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    });
    expect(screen.getByText('You cannot add yourself.')).toBeTruthy();
  });

  it('adding someone already in the contacts is no error, as in the real app', async () => {
    const t = withChats();
    renderAt(t.app, '/chats');
    fireEvent.change(screen.getByLabelText('Their username'), { target: { value: 'bob' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    });
    expect(screen.getByText('bob is in your contacts.')).toBeTruthy();
    expect(t.contacts.value.filter((c) => c.username === 'bob')).toHaveLength(1);
  });

  it('opens a chat without reloading the page (client-side navigation)', async () => {
    const t = withChats();
    const { router } = renderAt(t.app, '/chats');
    const before = window.location.href;
    fireEvent.click(screen.getByRole('link', { name: /^bob/ }));
    expect(router.state.location.pathname).toBe(`/chats/${chatIdOf('bob')}`);
    const heading = await screen.findByRole('heading', { level: 1, name: /bob/ });
    expect(window.location.href).toBe(before);
    // Focus lands on the new page's title, not lost on <body>.
    expect(document.activeElement).toBe(heading);
  });

  it('tells the user, in both languages, that the device started over, until dismissed', () => {
    const t = withChats();
    t.notice.value = 'protocol_reset';
    renderAt(t.app, '/chats');
    const notice = () => screen.queryByRole('alert', { name: /Important notice|Важное сообщение/ });
    expect(notice()?.textContent).toContain('This device started over with new keys');
    act(() => setLanguage('ru'));
    expect(notice()?.textContent).toContain('Это устройство начало заново с новыми ключами');
    act(() => setLanguage('en'));
    fireEvent.click(within(notice() as HTMLElement).getByRole('button', { name: 'I understand' }));
    expect(t.calls.map((c) => c.action)).toContain('dismissNotice');
    expect(notice()).toBeNull();
  });
});
