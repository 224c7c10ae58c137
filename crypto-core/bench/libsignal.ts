/**
 * The same handshake, ping-pong and safety number measured with @signalapp/libsignal-client
 * (Signal's own Rust implementation via its Node binding), as a baseline. Loaded lazily so
 * the rest of the benchmark runs where the package is not installed.
 */
import type * as Signal from '@signalapp/libsignal-client';

type Lib = typeof Signal;

export async function loadLibsignal(): Promise<Lib | undefined> {
  try {
    return await import('@signalapp/libsignal-client');
  } catch {
    return undefined;
  }
}

/** One party with in-memory stores (the abstract store classes require these methods). */
function party(S: Lib, name: string) {
  const identity = S.IdentityKeyPair.generate();
  const address = S.ProtocolAddress.new(name, 1);
  const sessions = new Map<string, Signal.SessionRecord>();
  const identities = new Map<string, Signal.PublicKey>();
  const preKeys = new Map<number, Signal.PreKeyRecord>();
  const signedPreKeys = new Map<number, Signal.SignedPreKeyRecord>();
  const kyberPreKeys = new Map<number, Signal.KyberPreKeyRecord>();
  const key = (a: Signal.ProtocolAddress) => `${a.name()}.${a.deviceId()}`;
  class Sessions extends S.SessionStore {
    async saveSession(a: Signal.ProtocolAddress, r: Signal.SessionRecord) {
      sessions.set(key(a), r);
    }
    async getSession(a: Signal.ProtocolAddress) {
      return sessions.get(key(a)) ?? null;
    }
    async getExistingSessions(as: Signal.ProtocolAddress[]) {
      return as.map((a) => sessions.get(key(a))).filter((r): r is Signal.SessionRecord => r !== undefined);
    }
  }
  class Identities extends S.IdentityKeyStore {
    async getIdentityKey() {
      return identity.privateKey;
    }
    async getLocalRegistrationId() {
      return 1;
    }
    async saveIdentity(a: Signal.ProtocolAddress, k: Signal.PublicKey) {
      identities.set(key(a), k);
      return S.IdentityChange.NewOrUnchanged;
    }
    async isTrustedIdentity() {
      return true;
    }
    async getIdentity(a: Signal.ProtocolAddress) {
      return identities.get(key(a)) ?? null;
    }
  }
  class PreKeys extends S.PreKeyStore {
    async savePreKey(id: number, r: Signal.PreKeyRecord) {
      preKeys.set(id, r);
    }
    async getPreKey(id: number) {
      const r = preKeys.get(id);
      if (!r) throw new Error('no prekey');
      return r;
    }
    async removePreKey() {
      // kept, so the bench can reuse one prekey for every handshake
    }
  }
  class SignedPreKeys extends S.SignedPreKeyStore {
    async saveSignedPreKey(id: number, r: Signal.SignedPreKeyRecord) {
      signedPreKeys.set(id, r);
    }
    async getSignedPreKey(id: number) {
      const r = signedPreKeys.get(id);
      if (!r) throw new Error('no signed prekey');
      return r;
    }
  }
  class KyberPreKeys extends S.KyberPreKeyStore {
    async saveKyberPreKey(id: number, r: Signal.KyberPreKeyRecord) {
      kyberPreKeys.set(id, r);
    }
    async getKyberPreKey(id: number) {
      const r = kyberPreKeys.get(id);
      if (!r) throw new Error('no kyber prekey');
      return r;
    }
    async markKyberPreKeyUsed() {}
  }
  const stores = {
    sessions: new Sessions(),
    identities: new Identities(),
    preKeys: new PreKeys(),
    signedPreKeys: new SignedPreKeys(),
    kyberPreKeys: new KyberPreKeys(),
  };
  return { identity, address, stores, reset: () => sessions.clear() };
}

type Party = ReturnType<typeof party>;

async function bundleOf(S: Lib, bob: Party): Promise<Signal.PreKeyBundle> {
  const pre = S.PrivateKey.generate();
  const spk = S.PrivateKey.generate();
  const kem = S.KEMKeyPair.generate();
  const spkSig = bob.identity.privateKey.sign(spk.getPublicKey().serialize());
  const kemSig = bob.identity.privateKey.sign(kem.getPublicKey().serialize());
  await bob.stores.preKeys.savePreKey(1, S.PreKeyRecord.new(1, pre.getPublicKey(), pre));
  await bob.stores.signedPreKeys.saveSignedPreKey(
    2,
    S.SignedPreKeyRecord.new(2, Date.now(), spk.getPublicKey(), spk, spkSig),
  );
  await bob.stores.kyberPreKeys.saveKyberPreKey(3, S.KyberPreKeyRecord.new(3, Date.now(), kem, kemSig));
  return S.PreKeyBundle.new(
    1,
    1,
    1,
    pre.getPublicKey(),
    2,
    spk.getPublicKey(),
    spkSig,
    bob.identity.publicKey,
    3,
    kem.getPublicKey(),
    kemSig,
  );
}

async function send(S: Lib, from: Party, to: Party, text: Uint8Array<ArrayBuffer>): Promise<void> {
  const ct = await S.signalEncrypt(
    text,
    to.address,
    from.address,
    from.stores.sessions,
    from.stores.identities,
  );
  const bytes = ct.serialize();
  const got =
    ct.type() === S.CiphertextMessageType.PreKey
      ? await S.signalDecryptPreKey(
          S.PreKeySignalMessage.deserialize(bytes),
          from.address,
          to.address,
          to.stores.sessions,
          to.stores.identities,
          to.stores.preKeys,
          to.stores.signedPreKeys,
          to.stores.kyberPreKeys,
        )
      : await S.signalDecrypt(
          S.SignalMessage.deserialize(bytes),
          from.address,
          to.address,
          to.stores.sessions,
          to.stores.identities,
        );
  if (got.length !== text.length) throw new Error('libsignal round trip failed');
}

/** Ops for the benchmark: a PQXDH handshake with its first message, and one ping-pong turn. */
export async function libsignalCases(S: Lib) {
  const alice = party(S, 'alice');
  const bob = party(S, 'bob');
  const bundle = await bundleOf(S, bob);
  const text = new Uint8Array(100).fill(7) as Uint8Array<ArrayBuffer>;
  const handshake = async () => {
    alice.reset();
    bob.reset();
    await S.processPreKeyBundle(
      bundle,
      bob.address,
      alice.address,
      alice.stores.sessions,
      alice.stores.identities,
    );
    await send(S, alice, bob, text);
  };
  await handshake();
  await send(S, bob, alice, text);
  let aliceTurn = true;
  const pingPong = async () => {
    if (aliceTurn) await send(S, alice, bob, text);
    else await send(S, bob, alice, text);
    aliceTurn = !aliceTurn;
  };
  const ids = [
    new TextEncoder().encode('alice'),
    new TextEncoder().encode('bob'),
  ] as Uint8Array<ArrayBuffer>[];
  const fingerprint = () =>
    S.Fingerprint.new(
      5200,
      2,
      ids[0] as Uint8Array<ArrayBuffer>,
      alice.identity.publicKey,
      ids[1] as Uint8Array<ArrayBuffer>,
      bob.identity.publicKey,
    )
      .displayableFingerprint()
      .toString();
  // Sanity: the display string exists, so the fingerprint call really ran.
  if (fingerprint().length !== 60) throw new Error('libsignal fingerprint failed');
  return { handshake, pingPong, fingerprint };
}
