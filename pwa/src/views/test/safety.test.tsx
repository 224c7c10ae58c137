import { act, fireEvent, render, screen } from '@testing-library/react';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppProvider } from '../../state/context.tsx';
import { ContactRoute } from '../contact-route.tsx';
import { SafetyScreen } from '../SafetyView.tsx';
import { decodeRawImage, rasterize, rawImageBlob } from './qr-pixels.ts';
import { chatIdOf, makeTestApp, setLanguage, type TestApp } from './test-app.tsx';

beforeEach(() => setLanguage('en'));

function renderSafety(t: TestApp) {
  const router = createMemoryRouter(
    [
      {
        path: 'contacts/:contact/safety',
        element: <ContactRoute screen="safety" />,
        children: [{ index: true, element: <SafetyScreen decodeFile={decodeRawImage} /> }],
      },
      { path: '*', element: <p>elsewhere</p> },
    ],
    { initialEntries: ['/contacts/bob/safety'] },
  );
  render(
    <AppProvider app={t.app}>
      <RouterProvider router={router} />
    </AppProvider>,
  );
}

function setup(patch = {}) {
  const t = makeTestApp({ signedIn: 'alice' });
  t.contacts.value = [
    { username: 'bob', chatId: chatIdOf('bob'), verified: false, keyChanged: false, addedAt: 1, ...patch },
  ];
  return t;
}

async function scanImage(text: string | null) {
  const blob =
    text === null
      ? rawImageBlob({ data: new Uint8ClampedArray(64 * 64 * 4).fill(255), width: 64, height: 64 })
      : rawImageBlob(await rasterize(text));
  const file = new File([blob], 'qr.raw');
  const input = screen.getByLabelText('Choose an image') as HTMLInputElement;
  await act(async () => {
    fireEvent.change(input, { target: { files: [file] } });
    // Let the decode (lazy jsQR import) and the comparison settle.
    await new Promise((r) => setTimeout(r, 50));
  });
}

describe('SafetyView', () => {
  it('shows the 60 digits in 12 groups of 5 and their QR code', async () => {
    renderSafety(setup());
    const qr = await screen.findByRole('img', { name: 'QR code of your safety number with bob' });
    expect(qr.getAttribute('data-qr-value')).toBe('sd-safety:bob');
    const groups = [...document.querySelectorAll('.safety-number .grouped-code-group')].map((g) =>
      g.textContent?.trim(),
    );
    expect(groups).toHaveLength(12);
    expect(groups.every((g) => /^\d{5}$/.test(g ?? ''))).toBe(true);
    expect(screen.getByText('bob is not verified yet.')).toBeTruthy();
  });

  it('a scanned code that matches marks the contact verified', async () => {
    const t = setup();
    renderSafety(t);
    await screen.findByRole('img', { name: /QR code of your safety number/ });
    await scanImage('sd-safety:bob');
    expect(t.calls).toContainEqual({ action: 'compareScanned', args: ['bob', 'sd-safety:bob'] });
    expect(document.querySelector('.verify-result')?.textContent).toContain(
      'The numbers match. bob is verified.',
    );
    expect(screen.getByText(/You have verified bob/)).toBeTruthy();
    expect(t.contacts.value[0]?.verified).toBe(true);
    // and the mark can be cleared again
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Clear the verified mark' }));
    });
    expect(t.contacts.value[0]?.verified).toBe(false);
  });

  it('a mismatch says so plainly and does not verify', async () => {
    const t = setup();
    renderSafety(t);
    await screen.findByRole('img', { name: /QR code of your safety number/ });
    await scanImage('sd-safety:mallory');
    expect(screen.getByText(/The numbers do NOT match/)).toBeTruthy();
    expect(t.contacts.value[0]?.verified).toBe(false);
  });

  it('reports a QR code that is not a safety number, and an image without any code', async () => {
    renderSafety(setup());
    await screen.findByRole('img', { name: /QR code of your safety number/ });
    await scanImage('https://example.com');
    expect(screen.getByText('This QR code is not a Secure Drop safety number.')).toBeTruthy();
    await scanImage(null);
    expect(screen.getByText(/No QR code found/)).toBeTruthy();
  });

  it('after a key change: warning shown, verified mark gone, acknowledgement clears it', async () => {
    const t = setup({ verified: false, keyChanged: true });
    renderSafety(t);
    expect(screen.getByRole('alert', { name: 'Security key changed.' })).toBeTruthy();
    expect(screen.getByText('bob is not verified yet.')).toBeTruthy();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'I understand, continue' }));
    });
    expect(screen.queryByRole('alert', { name: 'Security key changed.' })).toBeNull();
  });

  it('during a key change: after a scan of the old key’s code the user keeps the old key and refuses the new one', async () => {
    const t = setup({ verified: false, keyChanged: true });
    renderSafety(t);
    await screen.findByRole('heading', { name: 'Safety number of the NEW key of bob' });
    expect(screen.queryByRole('button', { name: 'Keep the old key and refuse the new one' })).toBeNull();
    await scanImage('sd-safety:bob:old');
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Keep the old key and refuse the new one' }));
    });
    expect(document.querySelector('.verify-result')?.textContent).toContain(
      'You kept the verified key of bob and refused the new one.',
    );
    expect(t.contacts.value[0]).toMatchObject({ keyChanged: false, verified: true });
    expect(screen.queryByRole('button', { name: 'Keep the old key and refuse the new one' })).toBeNull();
  });

  it('during a key change: the NEW key’s number is shown, labelled, and the old key’s code is named as old', async () => {
    const t = setup({ verified: false, keyChanged: true });
    renderSafety(t);
    expect(await screen.findByRole('heading', { name: 'Safety number of the NEW key of bob' })).toBeTruthy();
    await scanImage('sd-safety:bob:old');
    expect(document.querySelector('.verify-result')?.textContent).toContain(
      'This code belongs to the OLD key of bob',
    );
    expect(document.querySelector('.verify-result')?.textContent).not.toContain('match');
    expect(t.contacts.value[0]).toMatchObject({ keyChanged: true, verified: false });
    await scanImage('sd-safety:bob');
    expect(document.querySelector('.verify-result')?.textContent).toContain(
      'The numbers match the new key. It is accepted and bob is verified.',
    );
    expect(t.contacts.value[0]).toMatchObject({ keyChanged: false, verified: true });
  });

  it('a contact verified before the change is not clicked through: accepting unverified takes a second step', async () => {
    const t = setup({ verified: false, keyChanged: true, verifiedBeforeChange: true });
    renderSafety(t);
    expect(screen.queryByRole('button', { name: 'I understand, continue' })).toBeNull();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Accept without verifying…' }));
    });
    expect(t.contacts.value[0]?.keyChanged).toBe(true);
    expect(t.calls.some((c) => c.action === 'acknowledgeKeyChange')).toBe(false);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Accept without verifying' }));
    });
    expect(t.calls).toContainEqual({
      action: 'acknowledgeKeyChange',
      args: ['bob', { withoutVerifying: true }],
    });
    expect(t.contacts.value[0]).toMatchObject({ keyChanged: false, verified: false });
  });

  it('the picture option sits behind a note that a picture sent over the chat proves nothing', async () => {
    renderSafety(setup());
    await screen.findByRole('img', { name: /QR code of your safety number/ });
    expect(screen.getByRole('button', { name: 'Scan with the camera' })).toBeTruthy();
    const details = document.querySelector('details.file-option');
    expect(details?.hasAttribute('open')).toBe(false);
    expect(details?.textContent).toContain('A picture sent over the chat itself proves nothing');
  });
});
