import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../state/errors.ts';
import { pendingRecoveryCodes } from '../recovery.ts';
import { makeTestApp, renderAt, setLanguage } from './test-app.tsx';

beforeEach(() => setLanguage('en'));
afterEach(() => {
  pendingRecoveryCodes.value = null;
});

async function startAs(username: string) {
  const t = makeTestApp();
  renderAt(t.app, '/register');
  fireEvent.change(screen.getByLabelText('Username'), { target: { value: username } });
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
  });
  return t;
}

describe('RegisterView', () => {
  it('shows the username rules and refuses an invalid name without calling the relay', async () => {
    const t = await startAs('A!');
    expect(
      screen.getByText(/Latin letters a–z, digits and _ \(not first or last\)/, { selector: '.hint' }),
    ).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toMatch(/3–32 characters/);
    expect(t.calls.some((c) => c.action === 'startRegistration')).toBe(false);
  });

  it('shows the QR of the otpauth URI, the secret in groups of four and an otpauth:// link', async () => {
    const t = await startAs('  Alice ');
    expect(t.calls[0]).toEqual({ action: 'startRegistration', args: ['alice'] });
    const qr = await screen.findByRole('img', { name: /QR code for adding alice/ });
    expect(qr.getAttribute('data-qr-value')).toMatch(/^otpauth:\/\/totp\/.*secret=JBSWY3DPEHPK3PXP/);
    expect(qr.querySelector('path')?.getAttribute('d')).toMatch(/^M\d+ \d+h\d+v1h-\d+z/);
    const groups = [...document.querySelectorAll('.totp-secret .grouped-code-group')].map((g) =>
      g.textContent?.trim(),
    );
    expect(groups).toEqual(['JBSW', 'Y3DP', 'EHPK', '3PXP', 'JBSW', 'Y3DP', 'EHPK', '3PXP']);
    const link = screen.getByRole('link', { name: /Open the authenticator app/ });
    expect(link.getAttribute('href')).toMatch(/^otpauth:\/\/totp\//);
  });

  it('confirms the first code, then shows the recovery codes once with copy and download', async () => {
    const t = await startAs('alice');
    fireEvent.change(screen.getByLabelText(/Enter the code the app shows now/), {
      target: { value: '123 456' },
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    });
    expect(t.calls.find((c) => c.action === 'confirmRegistration')?.args).toEqual(['123456', undefined]);
    // Confirming signs in; the route guard moves to /chats, which shows the codes.
    const list = await screen.findByRole('list', { name: 'Recovery codes' });
    expect(
      within(list)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['aaaa-bbbb-cccc', 'dddd-eeee-ffff', 'gggg-hhhh-iiii']);
    expect(screen.getByRole('button', { name: 'Copy codes' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Download as a file' })).toBeTruthy();
    const cont = screen.getByRole('button', { name: 'Continue' }) as HTMLButtonElement;
    expect(cont.disabled).toBe(true);
    fireEvent.click(screen.getByLabelText('I have saved my recovery codes'));
    expect(cont.disabled).toBe(false);
    fireEvent.click(cont);
    // Gone for good: the chat list shows and the codes are nowhere in the document or memory.
    expect(screen.queryByText('aaaa-bbbb-cccc')).toBeNull();
    expect(pendingRecoveryCodes.value).toBeNull();
    expect(screen.getByRole('heading', { name: 'Chats', level: 1 })).toBeTruthy();
  });

  it('rejects a first code that is not six digits before calling the relay', async () => {
    const t = await startAs('alice');
    fireEvent.change(screen.getByLabelText(/Enter the code the app shows now/), {
      target: { value: '12ab' },
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    });
    expect(screen.getByRole('alert').textContent).toMatch(/The code is not right/);
    expect(t.calls.some((c) => c.action === 'confirmRegistration')).toBe(false);
  });

  it('a reload during enrolment goes on with the same secret; another name forgets it', async () => {
    const t = await startAs('alice');
    const before = (await screen.findByRole('img', { name: /QR code for adding alice/ })).getAttribute(
      'data-qr-value',
    );
    cleanup(); // the page reloads
    renderAt(t.app, '/register');
    const after = await screen.findByRole('img', { name: /QR code for adding alice/ });
    expect(after.getAttribute('data-qr-value')).toBe(before);
    expect(t.calls.filter((c) => c.action === 'startRegistration')).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Choose a different username' }));
    expect(t.calls.some((c) => c.action === 'abandonRegistration')).toBe(true);
    cleanup();
    renderAt(t.app, '/register');
    expect(screen.getByLabelText('Username')).toBeTruthy();
  });

  it('says when the pending registration has expired and lets the user start over', async () => {
    const t = await startAs('alice');
    t.app.confirmRegistration = async () => {
      throw new AppError('not_found');
    };
    fireEvent.change(screen.getByLabelText(/Enter the code the app shows now/), {
      target: { value: '123456' },
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    });
    expect(screen.getByRole('alert').textContent).toMatch(/registration has expired/);
    fireEvent.click(screen.getByRole('button', { name: 'Choose a different username' }));
    expect(screen.getByLabelText('Username')).toBeTruthy();
  });
});
