// Linked devices in the views (spec/protocol.md §16), over the fake app (test-app.tsx): the
// new device's choice after login (link, or start over with its key-change warning), its link
// code screen, and Settings → Linked devices (list, remove with a fresh code, link by a picture
// of the code behind its warning, confirmation with the history choice, refusals explained).
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppProvider } from '../../state/context.tsx';
import { DevicesSettings } from '../DevicesSettings.tsx';
import { decodeRawImage, rasterize, rawImageBlob } from './qr-pixels.ts';
import { makeTestApp, renderAt, setLanguage, type TestApp } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

function renderDevices(t: TestApp) {
  const router = createMemoryRouter(
    [{ path: '*', element: <DevicesSettings decodeFile={decodeRawImage} /> }],
    {
      initialEntries: ['/settings'],
    },
  );
  render(
    <AppProvider app={t.app}>
      <RouterProvider router={router} />
    </AppProvider>,
  );
}

/** Feeds a picture of a QR code holding `text` to the link dialog's file option. */
async function scanPicture(t: TestApp, dialog: HTMLElement, text: string, label = 'Choose an image') {
  const file = new File([rawImageBlob(await rasterize(text))], 'qr.raw');
  const input = within(dialog).getByLabelText(label) as HTMLInputElement;
  const before = t.calls.length;
  await act(async () => {
    fireEvent.change(input, { target: { files: [file] } });
  });
  // The decode (lazy jsQR) and the inspection settle.
  await waitFor(() =>
    expect(t.calls.slice(before)).toContainEqual({ action: 'inspectLinkCode', args: [text] }),
  );
  await act(async () => undefined);
}

describe('a new device after login', () => {
  it('offers linking first; “Back” returns to the question; starting over warns of the key change first', async () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: false };
    });
    let dialog = screen.getByRole('dialog', { name: 'Your account is already set up on another device' });
    expect(dialog.textContent).toMatch(/nobody is told anything changed/);
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Link to your other device' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['link'] });
    // The link code in place of the login form, with what this device will be called.
    expect(screen.queryByRole('dialog')).toBeNull();
    const qr = await screen.findByRole('img', { name: 'Link code of this device' });
    expect(qr.getAttribute('data-qr-value')).toBe('securedrop-link:TEST');
    expect(screen.getByText('This device appears there as: Chromium on Linux (phone)')).toBeTruthy();
    expect(screen.getByRole('status').textContent).toMatch(
      /Waiting for your other device… The code expires in [45]:\d\d\./,
    );
    expect(screen.queryByLabelText('Username')).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Back' }));
    expect(t.calls).toContainEqual({ action: 'cancelLinking', args: [] });
    dialog = screen.getByRole('dialog', { name: 'Your account is already set up on another device' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Start over' }));
    dialog = screen.getByRole('dialog', { name: 'Start over with new keys?' });
    expect(dialog.textContent).toMatch(/Your contacts will see that your security key changed/);
    expect(t.calls.filter((c) => c.action === 'resolveLoginConflict')).toHaveLength(1);
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Start over with new keys' }));
    });
    expect(t.calls).toContainEqual({ action: 'resolveLoginConflict', args: ['erase'] });
  });

  it('a failed or expired link says why and offers a new code', async () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: false };
      t.linking.value = {
        uri: 'securedrop-link:X',
        expiresAt: Date.now() - 1,
        deviceName: 'Firefox on Android',
        deviceKind: 'phone',
        status: 'failed',
        error: 'link_wrong_account',
      };
    });
    expect(screen.getByRole('alert').textContent).toMatch(/belongs to a different account/);
    expect(screen.queryByRole('img', { name: 'Link code of this device' })).toBeNull();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Show a new code' }));
    });
    expect(t.linking.value?.status).toBe('waiting');
    expect(await screen.findByRole('img', { name: 'Link code of this device' })).toBeTruthy();
  });

  it('a device holding older history: linking, keeping it read-only and erasing are all offered', () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: true };
    });
    const dialog = screen.getByRole('dialog', { name: 'This device holds older keys' });
    for (const name of ['Link to your other device', 'Keep the old history read-only', 'Erase and continue'])
      expect(within(dialog).getByRole('button', { name })).toBeTruthy();
    expect(dialog.textContent).toMatch(/every contact is told that your security key changed/);
  });
  it('a device that was unlinked is told so, and offered linking again first', () => {
    const t = makeTestApp();
    renderAt(t.app, '/login');
    act(() => {
      t.loginConflict.value = { username: 'alice', localHistory: true, unlinked: true };
    });
    const dialog = screen.getByRole('dialog', { name: 'This device was unlinked from your account' });
    expect(dialog.textContent).toMatch(/Link it again from your other device/);
    const buttons = within(dialog)
      .getAllByRole('button')
      .map((b) => b.textContent);
    expect(buttons[0]).toBe('Link to your other device');
  });
});

describe('Settings → Linked devices', () => {
  it('lists the devices; removing another one asks to confirm, then for a fresh code', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderAt(t.app, '/settings');
    const list = await screen.findByRole('list', { name: 'Your devices' });
    const items = within(list).getAllByRole('listitem');
    expect(items[0]?.textContent).toMatch(/Chromium on Linux · computer — this device/);
    expect(items[1]?.textContent).toMatch(/Safari on iOS · phone/);
    expect(items[1]?.textContent).toMatch(/Linked /);
    expect(within(items[0] as HTMLElement).queryByRole('button')).toBeNull();
    fireEvent.click(within(list).getByRole('button', { name: 'Remove Safari on iOS' }));
    const dialog = screen.getByRole('dialog', { name: 'Remove Safari on iOS?' });
    expect(dialog.textContent).toMatch(/receives nothing more/);
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Remove device' }));
    });
    expect(t.calls).toContainEqual({ action: 'removeDevice', args: [2, undefined] });
    fireEvent.change(within(dialog).getByLabelText('Code from your authenticator app'), {
      target: { value: '123456' },
    });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Remove device' }));
    });
    expect(t.calls).toContainEqual({ action: 'removeDevice', args: [2, '123456'] });
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() =>
      expect(
        within(screen.getByRole('list', { name: 'Your devices' })).getAllByRole('listitem'),
      ).toHaveLength(1),
    );
    expect(screen.getByText('Safari on iOS was removed.')).toBeTruthy();
  });

  it('links a new device from a picture of its code: warned first, confirms its description, history optional', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderDevices(t);
    fireEvent.click(await screen.findByRole('button', { name: 'Link a new device' }));
    const dialog = screen.getByRole('dialog', { name: 'Link a new device' });
    expect(within(dialog).getByRole('button', { name: 'Scan with the camera' })).toBeTruthy();
    fireEvent.click(within(dialog).getByText('Use a picture of the code instead'));
    expect(dialog.textContent).toMatch(/Never use a link code someone sent you/);
    await scanPicture(t, dialog, 'sd-link:good');
    expect(t.calls).toContainEqual({ action: 'inspectLinkCode', args: ['sd-link:good'] });
    const confirm = screen.getByRole('dialog', { name: 'Link this device?' });
    expect(confirm.textContent).toMatch(/“Safari on iOS” \(phone\) asks to join your account/);
    const history = within(confirm).getByRole('checkbox', {
      name: 'Also send recent history (last 200 messages per chat)',
    }) as HTMLInputElement;
    expect(history.checked).toBe(true);
    fireEvent.click(history);
    await act(async () => {
      fireEvent.click(within(confirm).getByRole('button', { name: 'Link device' }));
    });
    expect(t.calls).toContainEqual({ action: 'approveLink', args: ['sd-link:good', { history: false }] });
    expect(within(confirm).getByRole('status').textContent).toMatch(/“Safari on iOS” is linked/);
  });

  it('a code whose key was swapped is refused, and sends nothing', async () => {
    const t = makeTestApp({ signedIn: 'alice' });
    renderDevices(t);
    fireEvent.click(await screen.findByRole('button', { name: 'Link a new device' }));
    const dialog = screen.getByRole('dialog', { name: 'Link a new device' });
    fireEvent.click(within(dialog).getByText('Use a picture of the code instead'));
    await scanPicture(t, dialog, 'sd-link:mismatch');
    expect(within(dialog).getByRole('alert').textContent).toMatch(
      /This code does not match the device that opened it/,
    );
    expect(t.calls.some((c) => c.action === 'approveLink')).toBe(false);
  });

  it('in Russian: the refusals and the device limit are explained', async () => {
    setLanguage('ru');
    const t = makeTestApp({ signedIn: 'alice' });
    t.devices.value = [1, 2, 3, 4, 5].map((id) => ({
      id,
      name: `D${id}`,
      kind: 'other' as const,
      createdAt: 1,
      lastSeenAt: null,
      current: id === 1,
    }));
    renderDevices(t);
    fireEvent.click(await screen.findByRole('button', { name: 'Привязать новое устройство' }));
    let dialog = screen.getByRole('dialog', { name: 'Привязать новое устройство' });
    fireEvent.click(within(dialog).getByText('Использовать снимок кода'));
    await scanPicture(t, dialog, 'sd-link:used', 'Выбрать изображение');
    expect(within(dialog).getByRole('alert').textContent).toMatch(/уже использован/);
    await scanPicture(t, dialog, 'sd-link:good', 'Выбрать изображение');
    dialog = screen.getByRole('dialog', { name: 'Привязать это устройство?' });
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Привязать устройство' }));
    });
    expect(within(screen.getByRole('dialog')).getByRole('alert').textContent).toMatch(
      /максимальное число устройств \(5\)/,
    );
  });
});
