// The relay's TOTP enrolment (POST /register, POST /totp/reenroll) goes into a link and a QR
// code: a relay must not choose where that link goes. A page of its own under /api would run
// script in the app's origin (its script-src is 'self') with one tap on "Open the authenticator
// app". Over the real relay the URI passes; as a hostile relay answers, it is refused.
// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { freshName, relayUrl } from '../test/relay.ts';
import { RelayApi } from './api.ts';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

/** A relay that answers POST /register with `otpauth_uri`, and nothing else. */
function relayAnswering(otpauthUri: string): RelayApi {
  const hostile = (async () =>
    Response.json(
      {
        username: 'alice',
        otpauth_uri: otpauthUri,
        secret: SECRET,
        qr_png: 'data:image/png;base64,iVBORw0KGgo=',
        expires_at: new Date(Date.now() + 600_000).toISOString(),
      },
      { status: 201 },
    )) as typeof fetch;
  return new RelayApi({ baseUrl: 'http://relay.invalid', fetch: hostile });
}

describe('the TOTP enrolment link', () => {
  it('is the real relay’s otpauth URI for the secret it gave', async () => {
    const start = await new RelayApi({ baseUrl: relayUrl() }).register(freshName('enrol'));
    expect(start.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    expect(start.otpauthUri).toContain(`secret=${start.secret}`);
  });

  it('attack: anything else the relay sends is refused, never made a link', async () => {
    for (const uri of [
      '/api/evil',
      'https://evil.example/',
      'javascript:alert(1)',
      `otpauth://hotp/x?secret=${SECRET}`,
      `otpauth://totp/x?secret=OTHER`,
      'otpauth://totp/x',
      ` otpauth://totp/x?secret=${SECRET}`,
    ])
      await expect(relayAnswering(uri).register('alice'), uri).rejects.toMatchObject({
        code: 'bad_response',
      });
    await expect(
      relayAnswering(`otpauth://totp/Secure%20Drop:alice?secret=${SECRET}&issuer=Secure%20Drop`).register(
        'alice',
      ),
    ).resolves.toMatchObject({ secret: SECRET });
  });
});
