// The passkey app lock's platform half: WebAuthn's PRF extension (WebAuthn Level 3 §10.1.4)
// turns a fixed salt into 32 secret bytes only the authenticator can compute, after user
// verification. keyring.ts derives the wrapping key from them. The challenge is random and not
// checked by anyone: no server takes part, only the PRF output is used.

export class PasskeyUnavailableError extends Error {
  constructor() {
    super('this browser or authenticator offers no passkey with PRF');
    this.name = 'PasskeyUnavailableError';
  }
}

export const passkeySupported = (): boolean =>
  typeof globalThis.PublicKeyCredential !== 'undefined' && !!globalThis.navigator?.credentials;

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

type PrfResults = { enabled?: boolean; results?: { first?: BufferSource } };
const prfOf = (c: PublicKeyCredential) => (c.getClientExtensionResults() as { prf?: PrfResults }).prf;

const bytes = (b: BufferSource): Uint8Array =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();

/** Asks the passkey for its PRF output for `prfSalt` (the user verifies on the authenticator). */
export async function evaluatePasskey(credentialId: Uint8Array, prfSalt: Uint8Array): Promise<Uint8Array> {
  const assertion = (await navigator.credentials.get({
    publicKey: {
      challenge: random(32),
      allowCredentials: [{ type: 'public-key', id: credentialId as Uint8Array<ArrayBuffer> }],
      userVerification: 'required',
      extensions: {
        prf: { eval: { first: prfSalt as Uint8Array<ArrayBuffer> } },
      } as AuthenticationExtensionsClientInputs,
    },
  })) as PublicKeyCredential | null;
  const first = assertion && prfOf(assertion)?.results?.first;
  if (!first) throw new PasskeyUnavailableError();
  return bytes(first);
}

/** Creates a passkey for this device's lock and returns what keyring.ts needs. */
export async function createPasskey(
  username: string,
): Promise<{ credentialId: Uint8Array; prfSalt: Uint8Array; prf: Uint8Array }> {
  const prfSalt = random(32);
  const credential = (await navigator.credentials.create({
    publicKey: {
      rp: { name: 'Secure Drop' },
      user: { id: random(16), name: username, displayName: username },
      challenge: random(32),
      pubKeyCredParams: [
        { type: 'public-key', alg: -7 },
        { type: 'public-key', alg: -257 },
      ],
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      extensions: { prf: { eval: { first: prfSalt } } } as AuthenticationExtensionsClientInputs,
    },
  })) as PublicKeyCredential | null;
  if (!credential) throw new PasskeyUnavailableError();
  const prf = prfOf(credential);
  if (!prf?.enabled && !prf?.results?.first) throw new PasskeyUnavailableError();
  const credentialId = new Uint8Array(credential.rawId);
  // Some authenticators evaluate the PRF only on an assertion, not at creation.
  const output = prf.results?.first ? bytes(prf.results.first) : await evaluatePasskey(credentialId, prfSalt);
  return { credentialId, prfSalt, prf: output };
}
