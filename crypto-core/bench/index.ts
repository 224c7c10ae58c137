/**
 * crypto-core benchmark (`npm run bench -w crypto-core`): ops/s of the handshake, the
 * symmetric ratchet step, a ping-pong with a DH step every turn, 5 MB photo encryption
 * against raw WebCrypto AES-256-GCM, and the safety number — with ratios against
 * baselines measured in this same run (WebCrypto; @signalapp/libsignal-client when
 * installed). Results are recorded in crypto-core/BENCHMARKS.md. Not a test.
 */
import { cpus, loadavg } from 'node:os';
import { encryptChunked } from '../src/chunked.js';
import { generateIdentity } from '../src/identity.js';
import { createPhotoEncryptor, decryptPhoto, encryptPhoto } from '../src/photo.js';
import { generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey } from '../src/prekeys.js';
import { computeSafetyNumber } from '../src/safety-number.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '../src/session.js';
import { libsignalCases, loadLibsignal } from './libsignal.js';
import { type Case, compare, ratio, row } from './measure.js';

const PHOTO_BYTES = 5 * 1024 * 1024;
const text = new Uint8Array(100).fill(0x61);

function parties() {
  const alice = generateIdentity();
  const bob = generateIdentity();
  const spk = generateSignedPreKey(bob, 1);
  const pq = generatePqPreKey(bob, 2);
  const [opk] = generateOneTimePreKeys(3, 1);
  if (!opk) throw new Error('unreachable');
  const bundle = {
    identityKey: bob.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    oneTimePreKey: { id: opk.id, publicKey: opk.publicKey },
  };
  return {
    alice,
    bob,
    bundle,
    bobKeys: { identity: bob, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk },
  };
}

async function main(): Promise<void> {
  const [load1] = loadavg();
  console.log(
    `crypto-core benchmark — Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores)`,
  );
  console.log(`${new Date().toISOString()}, load average ${load1?.toFixed(2)} at start`);
  console.log(
    'Each comparison runs its cases in alternating rounds; best round shown (median in brackets).\n',
  );
  const p = parties();
  const S = await loadLibsignal();
  const ls = S ? await libsignalCases(S) : undefined;
  if (!ls) console.log('@signalapp/libsignal-client not installed: libsignal baselines skipped.\n');

  // Handshake: PQXDH initiate (bundle verification, 4 DH, ML-KEM-768 encaps) + accept with the first message.
  const handshake: Case = {
    name: 'crypto-core X3DH+KEM handshake (initiate + accept 1st msg)',
    op: async () => {
      const { session } = initiateSession(p.alice, p.bundle);
      const { message } = await encryptMessage(session, 'text', text);
      await acceptSession(p.bobKeys, message);
    },
  };
  const [hs, lsHs] = await compare(
    ls
      ? [handshake, { name: 'libsignal PQXDH handshake (process bundle + 1st msg)', op: ls.handshake }]
      : [handshake],
  );

  // Sessions for the ratchet cases: Alice → Bob once, Bob replies once, so both have chains.
  let { session: a } = initiateSession(p.alice, p.bundle);
  const first = await encryptMessage(a, 'text', text);
  a = first.session;
  let b: SessionState = (await acceptSession(p.bobKeys, first.message)).session;
  const reply = await encryptMessage(b, 'text', text);
  b = reply.session;
  a = (await decryptMessage(a, reply.message)).session;
  const symmetric: Case = {
    name: 'crypto-core symmetric ratchet step (encrypt+decrypt 100 B)',
    op: async () => {
      const sent = await encryptMessage(a, 'text', text);
      a = sent.session;
      b = (await decryptMessage(b, sent.message)).session;
    },
  };
  let aliceTurn = true;
  const pingPong: Case = {
    name: 'crypto-core ping-pong, DH step every turn (100 B)',
    op: async () => {
      if (aliceTurn) {
        const sent = await encryptMessage(a, 'text', text);
        a = sent.session;
        b = (await decryptMessage(b, sent.message)).session;
      } else {
        const sent = await encryptMessage(b, 'text', text);
        b = sent.session;
        a = (await decryptMessage(a, sent.message)).session;
      }
      aliceTurn = !aliceTurn;
    },
  };
  const [sym, pp, lsPp] = await compare(
    ls
      ? [symmetric, pingPong, { name: 'libsignal ping-pong, DH step every turn (100 B)', op: ls.pingPong }]
      : [symmetric, pingPong],
  );

  // Photos: 5 MB, crypto-core's default backend (WebCrypto) vs one raw WebCrypto AES-256-GCM call.
  const photo = new Uint8Array(PHOTO_BYTES).map((_, i) => (i * 31) & 0xff);
  photo.set([0xff, 0xd8, 0xff]);
  const messageKey = crypto.getRandomValues(new Uint8Array(32));
  const header = crypto.getRandomValues(new Uint8Array(44));
  const rawKey = crypto.getRandomValues(new Uint8Array(32));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await encryptPhoto(messageKey, header, photo);
  const meta = {
    mime: 'image/jpeg' as const,
    byteLength: PHOTO_BYTES,
    ciphertextSha256: sealed.ciphertextSha256,
  };
  // The floor of any C2SP implementation over WebCrypto: one AEAD call per 16 KiB chunk
  // (321 for 5 MB), issued at once, with nothing else (no key derivation, copy or digest).
  const chunkCount = Math.floor(PHOTO_BYTES / 16_384) + 1;
  const noAd = new Uint8Array(0);
  const [raw, floor, chunked, pEnc, pEncStream, pDec] = await compare([
    {
      name: 'raw WebCrypto AES-256-GCM 5 MB (importKey + 1 encrypt)',
      op: async () => {
        const k = await crypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt']);
        await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, photo);
      },
      bytesPerOp: PHOTO_BYTES,
    },
    {
      name: 'bare WebCrypto, one encrypt per 16 KiB chunk, 5 MB',
      op: async () => {
        const k = await crypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt']);
        const calls: Promise<ArrayBuffer>[] = [];
        for (let i = 0; i < chunkCount; i++)
          calls.push(
            crypto.subtle.encrypt(
              { name: 'AES-GCM', iv, additionalData: noAd },
              k,
              photo.subarray(i * 16_384, (i + 1) * 16_384),
            ),
          );
        await Promise.all(calls);
      },
      bytesPerOp: PHOTO_BYTES,
    },
    {
      name: 'C2SP chunked encryption only, 5 MB',
      op: () => encryptChunked(rawKey, photo, header),
      bytesPerOp: PHOTO_BYTES,
    },
    {
      name: 'encryptPhoto 5 MB (C2SP + SHA-256, one-shot)',
      op: () => encryptPhoto(messageKey, header, photo),
      bytesPerOp: PHOTO_BYTES,
    },
    {
      name: 'photo encryptor 5 MB streamed in 64 KiB pieces',
      op: async () => {
        const enc = createPhotoEncryptor(messageKey, header);
        for (let at = 0; at < photo.length; at += 65_536) await enc.push(photo.subarray(at, at + 65_536));
        await enc.finish();
      },
      bytesPerOp: PHOTO_BYTES,
    },
    {
      name: 'decryptPhoto 5 MB (SHA-256 check + C2SP, one-shot)',
      op: () => decryptPhoto(messageKey, header, meta, sealed.ciphertext),
      bytesPerOp: PHOTO_BYTES,
    },
  ]);

  const safety: Case = {
    name: 'crypto-core safety number (2 × 5,200 SHA-512 + QR)',
    op: () =>
      computeSafetyNumber(
        { username: 'alice', identityKey: p.alice.publicKey },
        { username: 'bob', identityKey: p.bob.publicKey },
      ),
  };
  const [sn, lsSn] = await compare(
    ls
      ? [safety, { name: 'libsignal safety number (Fingerprint.new, 5,200)', op: ls.fingerprint }]
      : [safety],
  );

  for (const r of [hs, lsHs, sym, pp, lsPp, raw, floor, chunked, pEnc, pEncStream, pDec, sn, lsSn])
    if (r) console.log(row(r));
  console.log('');
  if (raw && floor && chunked && pEnc && pEncStream && pDec) {
    console.log(ratio('encryptPhoto / raw WebCrypto AES-GCM', pEnc, raw, 0.8));
    console.log(ratio('bare per-chunk WebCrypto (C2SP floor) / raw AES-GCM', floor, raw));
    console.log(ratio('encryptPhoto / bare per-chunk WebCrypto', pEnc, floor));
    console.log(ratio('streamed photo encryptor / raw WebCrypto AES-GCM', pEncStream, raw));
    console.log(ratio('C2SP chunked only / raw WebCrypto AES-GCM', chunked, raw));
    console.log(ratio('decryptPhoto / raw WebCrypto AES-GCM', pDec, raw));
  }
  if (pp && lsPp) console.log(ratio('crypto-core / libsignal ping-pong', pp, lsPp, 0.33));
  if (hs && lsHs) console.log(ratio('crypto-core / libsignal handshake', hs, lsHs));
  if (sn && lsSn) console.log(ratio('crypto-core / libsignal safety number', sn, lsSn));
  console.log(`load average ${loadavg()[0]?.toFixed(2)} at end`);
}

await main();
