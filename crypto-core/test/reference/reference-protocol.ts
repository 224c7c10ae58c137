// A small, readable second implementation of spec/protocol.md version 2 §4–§9, written
// straight from the spec text and Signal's Double Ratchet pseudocode (§3.3–§3.5) with
// @noble primitives only — no crypto-core code. It is not transactional and checks nothing
// beyond what interoperation needs: its only use is differential testing
// (test/differential.test.ts).
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
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 255);
const u64 = (n: number) => cat(u32(Math.floor(n / 2 ** 32)), u32(n >>> 0));
const readU32 = (b: Uint8Array, at: number) =>
  (((b[at] as number) << 24) |
    ((b[at + 1] as number) << 16) |
    ((b[at + 2] as number) << 8) |
    (b[at + 3] as number)) >>>
  0;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const Z32 = new Uint8Array(32);

const kdfRk = (rk: Uint8Array, dh: Uint8Array) => {
  const o = hkdf(sha256, dh, rk, ascii('SecureDrop_Ratchet_v2'), 64);
  return [o.slice(0, 32), o.slice(32)] as const;
};
const kdfCk = (ck: Uint8Array) =>
  [hmac(sha256, ck, Uint8Array.of(2)), hmac(sha256, ck, Uint8Array.of(1))] as const;
// §9: the AES key from mk; the nonce is random and travels in the header.
const aesKey = (mk: Uint8Array) => hkdf(sha256, mk, Z32, ascii('SecureDrop_MessageKey_v2'), 32);

// §5.4: the accounts binding, over canonical usernames (the tests use canonical ones).
const accountsDigest = (initiator: string, responder: string) => {
  const a = ascii(initiator);
  const b = ascii(responder);
  return sha256(cat(ascii('SecureDrop_Accounts_v2'), u16(a.length), a, u16(b.length), b));
};

// §9.1: Padmé of the PURBs paper, then 160-byte blocks.
const padme = (l: number) => {
  const e = Math.floor(Math.log2(l));
  const s = Math.floor(Math.log2(e)) + 1;
  const mask = (1 << (e - s)) - 1;
  return (l + mask) & ~mask;
};
const frame = (body: Uint8Array, sentAt: number, order: number) => {
  const out = new Uint8Array(Math.ceil(padme(16 + body.length + 1) / 160) * 160);
  out.set(cat(u64(sentAt), u64(order), body, Uint8Array.of(0x80)));
  return out;
};
export interface RefContent {
  body: Uint8Array;
  sentAt: number;
  order: number;
}
const unframe = (f: Uint8Array): RefContent => {
  let end = f.length - 1;
  while (f[end] === 0) end--;
  if (f[end] !== 0x80) throw new Error('padding');
  return {
    sentAt: readU32(f, 0) * 2 ** 32 + readU32(f, 4),
    order: readU32(f, 8) * 2 ** 32 + readU32(f, 12),
    body: f.slice(16, end),
  };
};

export interface BobSecrets {
  identitySeed: Uint8Array;
  spk: { id: number; secretKey: Uint8Array; publicKey: Uint8Array };
  pq: { kind: 'last-resort' | 'one-time'; id: number; secretKey: Uint8Array; publicKey: Uint8Array };
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
    names: { initiator: string; responder: string },
    bundle: {
      ik: Uint8Array;
      spkId: number;
      spk: Uint8Array;
      pqKind: number; // 0x01 last-resort, 0x02 one-time
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
      ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v2'),
      32,
    );
    const ad = cat(
      ikA,
      bundle.ik,
      sha256(cat(ascii('SecureDrop_PQXDH_KEM_binding_v2'), bundle.pq, cipherText)),
      accountsDigest(names.initiator, names.responder),
    );
    const ratchet = RefParty.keyPair(random);
    const [rk, cks] = kdfRk(sk, x25519.getSharedSecret(ratchet.sk, bundle.spk));
    const p = new RefParty(0x01, ad, rk, ratchet, random);
    p.DHr = bundle.spk;
    p.CKs = cks;
    p.prefix = cat(
      Uint8Array.of(2, 1, 1),
      ikA,
      ek.pk,
      u32(bundle.spkId),
      Uint8Array.of(bundle.pqKind),
      u32(bundle.pqId),
      bundle.opkId === undefined ? Uint8Array.of(0) : cat(Uint8Array.of(1), u32(bundle.opkId)),
      cipherText,
    );
    return p;
  }

  /** §5.3 + §5.5 + §6.2 from the responder's side; returns the party and the envelope. */
  static accept(
    bob: BobSecrets,
    names: { initiator: string; responder: string },
    message: Uint8Array,
    random: Random,
  ): { party: RefParty; envelope: Uint8Array } {
    const ikA = message.slice(3, 35);
    const ekA = message.slice(35, 67);
    if (message[71] !== (bob.pq.kind === 'one-time' ? 2 : 1) || readU32(message, 72) !== bob.pq.id)
      throw new Error('PQ prekey');
    const hasOpk = message[76] === 1;
    const ctAt = hasOpk ? 81 : 77;
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
      ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v2'),
      32,
    );
    const ad = cat(
      ikA,
      ed25519.getPublicKey(bob.identitySeed),
      sha256(cat(ascii('SecureDrop_PQXDH_KEM_binding_v2'), bob.pq.publicKey, ct)),
      accountsDigest(names.initiator, names.responder),
    );
    const party = new RefParty(0x02, ad, sk, { sk: bob.spk.secretKey, pk: bob.spk.publicKey }, random);
    party.acceptedPrefix = message.slice(0, ctAt + 1088);
    return { party, envelope: message.slice(ctAt + 1088) };
  }

  /** Double Ratchet §3.4 RatchetEncrypt, with the §8 header, §9 AEAD and §9.1 frame. */
  encrypt(content: RefContent, contentType = 1): Uint8Array {
    if (this.CKs === null) throw new Error('cannot send yet');
    const [ck, mk] = kdfCk(this.CKs);
    this.CKs = ck;
    const nonce = this.random(12);
    const header = cat(
      Uint8Array.of(2, 2, this.dir, contentType),
      this.DHs.pk,
      u32(this.PN),
      u32(this.Ns),
      nonce,
    );
    this.Ns += 1;
    const pt = frame(content.body, content.sentAt, content.order);
    const env = cat(header, gcm(aesKey(mk), nonce, cat(this.AD, header)).encrypt(pt));
    return this.prefix ? cat(this.prefix, env) : env;
  }

  /** Double Ratchet §3.5 RatchetDecrypt (no limits, no rollback). */
  decrypt(message: Uint8Array): RefContent {
    let env = message;
    if (message[1] === 1) {
      const len = message[76] === 1 ? 1169 : 1165;
      if (this.acceptedPrefix === null || hex(message.slice(0, len)) !== hex(this.acceptedPrefix))
        throw new Error('prefix');
      env = message.slice(len);
    }
    const header = env.slice(0, 56);
    const dh = header.slice(4, 36);
    const pn = readU32(header, 36);
    const n = readU32(header, 40);
    const nonce = header.slice(44, 56);
    const ct = env.slice(56);
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
    const pt = gcm(aesKey(mk), nonce, cat(this.AD, header)).decrypt(ct);
    this.prefix = null;
    return unframe(pt);
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
