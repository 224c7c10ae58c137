// A small, readable second implementation of spec/protocol.md §4–§9, written straight from
// the spec text and Signal's Double Ratchet pseudocode (§3.3–§3.5) with @noble primitives
// only — no crypto-core code. It is not transactional and checks nothing beyond what
// interoperation needs: its only use is differential testing (test/differential.test.ts).
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';

type Random = (n: number) => Uint8Array;
const te = new TextEncoder();
const ascii = (s: string) => te.encode(s);
const cat = (...p: Uint8Array[]) => {
  const out = new Uint8Array(p.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of p) {
    out.set(x, at);
    at += x.length;
  }
  return out;
};
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const readU32 = (b: Uint8Array, at: number) =>
  (((b[at] as number) << 24) |
    ((b[at + 1] as number) << 16) |
    ((b[at + 2] as number) << 8) |
    (b[at + 3] as number)) >>>
  0;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const Z32 = new Uint8Array(32);

const kdfRk = (rk: Uint8Array, dh: Uint8Array) => {
  const o = hkdf(sha256, dh, rk, ascii('SecureDrop_Ratchet_v1'), 64);
  return [o.slice(0, 32), o.slice(32)] as const;
};
const kdfCk = (ck: Uint8Array) =>
  [hmac(sha256, ck, Uint8Array.of(2)), hmac(sha256, ck, Uint8Array.of(1))] as const;
const aead = (mk: Uint8Array) => {
  const o = hkdf(sha256, mk, Z32, ascii('SecureDrop_MessageKeys_v1'), 44);
  return [o.slice(0, 32), o.slice(32)] as const;
};

export interface BobSecrets {
  identitySeed: Uint8Array;
  spk: { id: number; secretKey: Uint8Array; publicKey: Uint8Array };
  pq: { id: number; secretKey: Uint8Array; publicKey: Uint8Array };
  opk?: { id: number; secretKey: Uint8Array };
}

/** One party of the Double Ratchet (§7), initiator (dir 0x01) or responder (dir 0x02). */
export class RefParty {
  DHs: { sk: Uint8Array; pk: Uint8Array };
  DHr: Uint8Array | null = null;
  RK: Uint8Array;
  CKs: Uint8Array | null = null;
  CKr: Uint8Array | null = null;
  Ns = 0;
  Nr = 0;
  PN = 0;
  skipped = new Map<string, Uint8Array>();
  prefix: Uint8Array | null = null; // initiator's initial header until a reply
  acceptedPrefix: Uint8Array | null = null;

  private constructor(
    readonly dir: number,
    readonly AD: Uint8Array,
    rk: Uint8Array,
    dhs: { sk: Uint8Array; pk: Uint8Array },
    readonly random: Random,
  ) {
    this.RK = rk;
    this.DHs = dhs;
  }

  private static keyPair(random: Random) {
    const sk = random(32);
    return { sk, pk: x25519.getPublicKey(sk) };
  }

  /** §5.2 + §5.5 + §6.1 from the initiator's side. */
  static initiate(
    aliceSeed: Uint8Array,
    bundle: {
      ik: Uint8Array;
      spkId: number;
      spk: Uint8Array;
      pqId: number;
      pq: Uint8Array;
      opkId?: number;
      opk?: Uint8Array;
    },
    random: Random,
  ): RefParty {
    const ikA = ed25519.getPublicKey(aliceSeed);
    const ikSecret = ed25519.utils.toMontgomerySecret(aliceSeed);
    const ek = RefParty.keyPair(random);
    const m = random(32);
    const dhs = [
      x25519.getSharedSecret(ikSecret, bundle.spk),
      x25519.getSharedSecret(ek.sk, ed25519.utils.toMontgomery(bundle.ik)),
      x25519.getSharedSecret(ek.sk, bundle.spk),
    ];
    if (bundle.opk) dhs.push(x25519.getSharedSecret(ek.sk, bundle.opk));
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(bundle.pq, m);
    const sk = hkdf(
      sha256,
      cat(new Uint8Array(32).fill(0xff), ...dhs, sharedSecret),
      Z32,
      ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v1'),
      32,
    );
    const ad = cat(
      ikA,
      bundle.ik,
      sha256(cat(ascii('SecureDrop_PQXDH_KEM_binding_v1'), bundle.pq, cipherText)),
    );
    const ratchet = RefParty.keyPair(random);
    const [rk, cks] = kdfRk(sk, x25519.getSharedSecret(ratchet.sk, bundle.spk));
    const p = new RefParty(0x01, ad, rk, ratchet, random);
    p.DHr = bundle.spk;
    p.CKs = cks;
    p.prefix = cat(
      Uint8Array.of(1, 1, 1),
      ikA,
      ek.pk,
      u32(bundle.spkId),
      u32(bundle.pqId),
      bundle.opkId === undefined ? Uint8Array.of(0) : cat(Uint8Array.of(1), u32(bundle.opkId)),
      cipherText,
    );
    return p;
  }

  /** §5.3 + §5.5 + §6.2 from the responder's side; returns the party and the envelope. */
  static accept(
    bob: BobSecrets,
    message: Uint8Array,
    random: Random,
  ): { party: RefParty; envelope: Uint8Array } {
    const ikA = message.slice(3, 35);
    const ekA = message.slice(35, 67);
    const hasOpk = message[75] === 1;
    const ctAt = hasOpk ? 80 : 76;
    const ct = message.slice(ctAt, ctAt + 1088);
    const ikSecret = ed25519.utils.toMontgomerySecret(bob.identitySeed);
    const dhs = [
      x25519.getSharedSecret(bob.spk.secretKey, ed25519.utils.toMontgomery(ikA)),
      x25519.getSharedSecret(ikSecret, ekA),
      x25519.getSharedSecret(bob.spk.secretKey, ekA),
    ];
    if (hasOpk && bob.opk) dhs.push(x25519.getSharedSecret(bob.opk.secretKey, ekA));
    const ss = ml_kem768.decapsulate(ct, bob.pq.secretKey);
    const sk = hkdf(
      sha256,
      cat(new Uint8Array(32).fill(0xff), ...dhs, ss),
      Z32,
      ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v1'),
      32,
    );
    const ad = cat(
      ikA,
      ed25519.getPublicKey(bob.identitySeed),
      sha256(cat(ascii('SecureDrop_PQXDH_KEM_binding_v1'), bob.pq.publicKey, ct)),
    );
    const party = new RefParty(0x02, ad, sk, { sk: bob.spk.secretKey, pk: bob.spk.publicKey }, random);
    party.acceptedPrefix = message.slice(0, ctAt + 1088);
    return { party, envelope: message.slice(ctAt + 1088) };
  }

  /** Double Ratchet §3.4 RatchetEncrypt, with the §8 header and §9 AEAD. */
  encrypt(plaintext: Uint8Array, contentType = 1): Uint8Array {
    if (this.CKs === null) throw new Error('cannot send yet');
    const [ck, mk] = kdfCk(this.CKs);
    this.CKs = ck;
    const header = cat(Uint8Array.of(1, 2, this.dir, contentType), this.DHs.pk, u32(this.PN), u32(this.Ns));
    this.Ns += 1;
    const [key, nonce] = aead(mk);
    const env = cat(header, gcm(key, nonce, cat(this.AD, header)).encrypt(plaintext));
    return this.prefix ? cat(this.prefix, env) : env;
  }

  /** Double Ratchet §3.5 RatchetDecrypt (no limits, no rollback). */
  decrypt(message: Uint8Array): Uint8Array {
    let env = message;
    if (message[1] === 1) {
      const len = message[75] === 1 ? 1168 : 1164;
      if (this.acceptedPrefix === null || hex(message.slice(0, len)) !== hex(this.acceptedPrefix))
        throw new Error('prefix');
      env = message.slice(len);
    }
    const header = env.slice(0, 44);
    const dh = header.slice(4, 36);
    const pn = readU32(header, 36);
    const n = readU32(header, 40);
    const ct = env.slice(44);
    const id = `${hex(dh)}:${n}`;
    let mk = this.skipped.get(id);
    if (mk !== undefined) {
      this.skipped.delete(id);
    } else {
      if (this.DHr === null || hex(dh) !== hex(this.DHr)) {
        this.skip(pn);
        this.PN = this.Ns;
        this.Ns = 0;
        this.Nr = 0;
        this.DHr = dh;
        [this.RK, this.CKr] = kdfRk(this.RK, x25519.getSharedSecret(this.DHs.sk, dh));
        this.DHs = RefParty.keyPair(this.random);
        [this.RK, this.CKs] = kdfRk(this.RK, x25519.getSharedSecret(this.DHs.sk, dh));
      }
      this.skip(n);
      const [ck, k] = kdfCk(this.CKr as Uint8Array);
      this.CKr = ck;
      this.Nr += 1;
      mk = k;
    }
    const [key, nonce] = aead(mk);
    const pt = gcm(key, nonce, cat(this.AD, header)).decrypt(ct);
    this.prefix = null;
    return pt;
  }

  private skip(until: number): void {
    if (this.CKr === null || this.DHr === null) return;
    while (this.Nr < until) {
      const [ck, mk] = kdfCk(this.CKr);
      this.skipped.set(`${hex(this.DHr)}:${this.Nr}`, mk);
      this.CKr = ck;
      this.Nr += 1;
    }
  }
}
