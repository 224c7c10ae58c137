// The measured side of bench/fan-out.ts (which starts the relay, bundles this file with Vite —
// the app's modules import Vite-only specifiers — and runs it in plain Node with RELAY_PORT).
// What is measured and how: see bench/fan-out.ts.
import 'fake-indexeddb/auto';
import { generate } from 'otplib';
import WebSocket from 'ws';
import { publishAccountKeys, publishDeviceKeys, requireIdentity } from '../src/secure/account-keys.ts';
import { type SealedSend, SessionManager } from '../src/secure/session-manager.ts';
import { openIdbStorage } from '../src/storage/idb-storage.ts';
import { RelayApi } from '../src/transport/api.ts';
import { ApiError } from '../src/transport/errors.ts';
import { SocketFirst } from '../src/transport/socket-first.ts';
import { RelaySocket, type SocketLike } from '../src/transport/ws.ts';

const ROUNDS = Math.min(Number(process.env.BENCH_ROUNDS ?? 10), 40);
const PER_ROUND = 20;
const FIRST_SAMPLES = 3;
const TEXT = 'x'.repeat(64);
const ORIGIN = 'http://127.0.0.1:5173';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] as number;
};

interface Account {
  readonly username: string;
  readonly api: RelayApi;
  readonly recoveryCodes: readonly string[];
  readonly storage: Awaited<ReturnType<typeof openIdbStorage>>;
}

async function signUp(baseUrl: string, username: string): Promise<Account> {
  const api = new RelayApi({ baseUrl });
  const start = await api.register(username);
  const session = await api.confirmRegistration(start.username, await generate({ secret: start.secret }));
  const storage = await openIdbStorage(`bench-${start.username}`);
  await publishAccountKeys(storage, start.username, api);
  return { username: start.username, api, recoveryCodes: session.recoveryCodes, storage };
}

/** Another device of `a`'s account, linked as src/state/messenger.test.ts `linked` does. */
async function link(baseUrl: string, a: Account, codeIndex: number): Promise<Account> {
  const code = a.recoveryCodes[codeIndex];
  if (!code) throw new Error('no recovery code left');
  const api = new RelayApi({ baseUrl });
  await api.login(a.username, code);
  const storage = await openIdbStorage(`bench-${a.username}-${codeIndex + 2}`);
  const pqKey = crypto.getRandomValues(new Uint8Array(1184));
  const { address } = await api.createProvisioning(pqKey, 'Bench device', 'desktop');
  await a.api.putProvisioning(address, new Uint8Array([1]));
  if ((await api.provisioningMessage(address)) === null) throw new Error('no provisioning message');
  await publishDeviceKeys(storage, a.username, await requireIdentity(a.storage), api, {
    name: 'Bench device',
    kind: 'desktop',
  });
  return { ...a, api, storage };
}

interface Sender {
  readonly sm: SessionManager;
  readonly via: SocketFirst;
  readonly socket: RelaySocket;
  /** Bytes of every `send` frame written to the socket. */
  readonly frames: number[];
  overSocket: number;
}

async function main(): Promise<void> {
  const port = Number(process.env.RELAY_PORT);
  const baseUrl = `http://127.0.0.1:${port}`;
  const sender = (a: Account): Sender => {
    const frames: number[] = [];
    const socket = new RelaySocket({
      url: `ws://127.0.0.1:${port}/ws`,
      token: async () => a.api.http.accessToken,
      cursor: () => 0,
      onFrame: () => undefined,
      createSocket: (url) => {
        const ws = new WebSocket(url, { origin: ORIGIN });
        const send = ws.send.bind(ws);
        // Counted where the bytes leave the client: the text of each `send` frame.
        ws.send = ((data: string) => {
          if (data.startsWith('{"type":"send"')) frames.push(Buffer.byteLength(data));
          send(data);
        }) as typeof ws.send;
        return ws as unknown as SocketLike;
      },
      isOnline: () => true,
    });
    const s: Sender = {
      sm: new SessionManager(a.storage, a.api),
      socket,
      frames,
      overSocket: 0,
      via: new SocketFirst({
        api: a.api,
        socket: () => socket,
        onPath: (_, path) => {
          if (path === 'socket') s.overSocket += 1;
        },
      }),
    };
    return s;
  };
  {
    const run = Math.random().toString(36).slice(2, 7);
    const alice = await signUp(baseUrl, `fan_a_${run}`);
    // The sender with a second device of its own: sync copies (spec §16).
    const carol = await signUp(baseUrl, `fan_c_${run}`);
    const devicesOf = new Map<string, Account[]>([
      [alice.username, [alice]],
      [carol.username, [carol, await link(baseUrl, carol, 0)]],
    ]);
    const peers: Record<string, { from: Account; to: Account; devices: number; own: number }> = {};
    for (const n of [1, 2, 5]) {
      const bob = await signUp(baseUrl, `fan_b${n}_${run}`);
      const devices = [bob];
      for (let i = 0; i < n - 1; i++) devices.push(await link(baseUrl, bob, i));
      devicesOf.set(bob.username, devices);
      peers[`${n} recipient device${n > 1 ? 's' : ''}`] = { from: alice, to: bob, devices: n, own: 0 };
    }
    const dave = await signUp(baseUrl, `fan_d_${run}`);
    devicesOf.set(dave.username, [dave]);
    peers['1 recipient + 1 own device (sync copy)'] = { from: carol, to: dave, devices: 1, own: 1 };
    const senders = new Map<Account, Sender>();
    for (const a of [alice, carol]) {
      const s = sender(a);
      s.socket.start();
      senders.set(a, s);
    }
    for (const s of senders.values())
      while (s.socket.status !== 'online') await new Promise((r) => setTimeout(r, 20));

    let n = 0;
    type Transport = (
      to: string,
      clientId: string,
      r: SealedSend['recipient'],
      own: SealedSend['own'],
    ) => Promise<unknown>;
    /** One send as Outgoing.sendItem does it; returns the copies and the 409s it took. */
    const sealAndSend = async (sm: SessionManager, transport: Transport, to: string) => {
      const clientId = `m${n++}`;
      let sealed: SealedSend = await sm.sealFanOut(to, {
        contentType: 'text',
        body: new TextEncoder().encode(TEXT),
      });
      for (let stale = 0; ; stale++) {
        try {
          await transport(to, clientId, sealed.recipient, sealed.own);
          return { copies: sealed.recipient.length + sealed.own.length, stale };
        } catch (err) {
          const lists =
            err instanceof ApiError && err.code === 'stale_devices' ? err.staleDevices : undefined;
          if (!lists || stale >= 3) throw err;
          sealed = await sm.resealFanOut(to, sealed, lists);
        }
      }
    };
    let fromSenders = 0;
    const sendOnce = (from: Account, to: Account) => {
      const s = senders.get(from) as Sender;
      fromSenders += 1;
      return sealAndSend(s.sm, (...a) => s.via.sendMessage(...a), to.username);
    };
    // Every device of an account: its own store and session manager (the sender's is its Sender's).
    const managers = new Map<Account, SessionManager>();
    const managerOf = (d: Account) => {
      const sm = senders.get(d)?.sm ?? managers.get(d) ?? new SessionManager(d.storage, d.api);
      managers.set(d, sm);
      return sm;
    };
    const cursors = new Map<Account, number>();
    /** Opens every message waiting for device `d` (as the app's incoming path, nothing shown). */
    const readAll = async (d: Account) => {
      for (;;) {
        const page = await d.api.messages(cursors.get(d) ?? 0, 100);
        for (const m of page.messages)
          await managerOf(d).decrypt(m.sender, m.body, () => [], m.fromDevice ?? 1);
        cursors.set(d, page.nextCursor);
        if (!page.hasMore) break;
      }
    };
    /**
     * The sessions established as in a conversation: every recipient device opens the first
     * message and answers it, and the sender opens the answers. Until an initiator's session sees
     * a reply it repeats the PQXDH header in every message (crypto-core session.ts), so without
     * this every "established" send would still carry it. The own other device does the same for
     * the sibling session (a message of its own, whose sync copy the sender opens).
     */
    const converse = async (from: Account, to: Account) => {
      for (const d of devicesOf.get(to.username) ?? []) {
        await readAll(d);
        await sealAndSend(managerOf(d), (...a) => d.api.sendMessage(...a), from.username);
      }
      for (const d of devicesOf.get(from.username) ?? []) await readAll(d);
      for (const d of (devicesOf.get(from.username) ?? []).slice(1)) {
        await sealAndSend(managerOf(d), (...a) => d.api.sendMessage(...a), to.username);
        await readAll(from);
      }
    };

    const names = Object.keys(peers);
    // Not counted: one first send to a throwaway contact, so that the JIT's start is not
    // charged to the first configuration's first send.
    const warm = await signUp(baseUrl, `fan_w_${run}`);
    await managerOf(alice).addPeer(warm.username);
    await sendOnce(alice, warm);
    const first: Record<string, { ms: number[]; bytes: number; copies: number; stale: number }> = {};
    const firstSend = async (name: string, from: Account, to: Account) => {
      await managerOf(from).addPeer(to.username);
      const s = senders.get(from) as Sender;
      const before = s.frames.length;
      const t0 = performance.now();
      const r = await sendOnce(from, to);
      const ms = performance.now() - t0;
      const bytes = s.frames.slice(before).at(-1) ?? 0;
      first[name] = { ...r, bytes, ms: [...(first[name]?.ms ?? []), ms] };
    };
    for (const name of names) {
      const { from, to } = peers[name] as (typeof peers)[string];
      await firstSend(name, from, to);
      await converse(from, to);
    }
    // More first sends, each to a fresh account with the same devices (and, for the sync copy,
    // from a fresh sender with its own other device): the first send is one sample per account.
    for (let k = 1; k < FIRST_SAMPLES; k++)
      for (const name of names) {
        const { devices, own } = peers[name] as (typeof peers)[string];
        const to = await signUp(baseUrl, `fan_f${k}${devices}${own}_${run}`);
        for (let i = 0; i < devices - 1; i++) await link(baseUrl, to, i);
        let from = alice;
        if (own > 0) {
          from = await signUp(baseUrl, `fan_g${k}_${run}`);
          await link(baseUrl, from, 0);
          const s = sender(from);
          s.socket.start();
          senders.set(from, s);
          while (s.socket.status !== 'online') await new Promise((r) => setTimeout(r, 20));
        }
        await firstSend(name, from, to);
      }
    // Warm-up, not counted: JIT, the relay's prepared statements.
    for (const name of names) {
      const { from, to } = peers[name] as (typeof peers)[string];
      for (let i = 0; i < 10; i++) await sendOnce(from, to);
    }
    const times: Record<string, number[]> = {};
    const cpu: Record<string, number> = {};
    const bytes: Record<string, number[]> = {};
    for (const name of names) {
      times[name] = [];
      cpu[name] = 0;
      bytes[name] = [];
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length] as string);
      for (const name of order) {
        const { from, to, devices, own } = peers[name] as (typeof peers)[string];
        const s = senders.get(from) as Sender;
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < PER_ROUND; i++) {
          const before = s.frames.length;
          const t0 = performance.now();
          const r = await sendOnce(from, to);
          (times[name] as number[]).push(performance.now() - t0);
          if (r.stale !== 0 || r.copies !== devices + own) throw new Error(`${name}: ${r.copies} copies`);
          (bytes[name] as number[]).push(...s.frames.slice(before));
        }
        const used = process.cpuUsage(cpu0);
        cpu[name] = (cpu[name] as number) + (used.user + used.system) / 1000;
      }
    }
    for (const s of senders.values()) s.socket.stop();

    const count = ROUNDS * PER_ROUND;
    const base = names[0] as string;
    const p50 = (name: string) => quantile(times[name] as number[], 0.5);
    const p95 = (name: string) => quantile(times[name] as number[], 0.95);
    const perSendCpu = (name: string) => (cpu[name] as number) / count;
    const frameBytes = (name: string) => quantile(bytes[name] as number[], 0.5);
    const x = (v: number, b: number) => `${(v / b).toFixed(2)}×`;
    const rows = names.map((name) => {
      const f = first[name] as (typeof first)[string];
      const fm = quantile(f.ms, 0.5);
      const fb = quantile((first[base] as typeof f).ms, 0.5);
      return `| ${name} | ${p50(name).toFixed(2)} ms (${x(p50(name), p50(base))}) | ${p95(name).toFixed(2)} ms (${x(p95(name), p95(base))}) | ${perSendCpu(name).toFixed(2)} ms (${x(perSendCpu(name), perSendCpu(base))}) | ${frameBytes(name)} B (${x(frameBytes(name), frameBytes(base))}) | ${fm.toFixed(1)} ms (${x(fm, fb)}), ${f.bytes} B, ${f.stale} × 409 |`;
    });
    const sent = [...senders.values()].reduce((a, s) => a + s.overSocket, 0);
    console.log(
      [
        `${count} sends per configuration in ${ROUNDS} rotating rounds of ${PER_ROUND}, a ${TEXT.length}-byte text, one outstanding; ${sent} of ${fromSenders} sends answered on the socket; ratios to "${base}" of this run`,
        '',
        `| configuration | send p50 | send p95 | bench-process CPU per send | send frame bytes | first send, median of ${FIRST_SAMPLES} (bundles + PQXDH per device) |`,
        '| --- | --- | --- | --- | --- | --- |',
        ...rows,
      ].join('\n'),
    );
  }
}

await main();
process.exit(0);
