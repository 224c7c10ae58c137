// `npm run bench:send -w pwa`: what the PWA's send path gains from the WebSocket. One sender
// with one send outstanding at a time (as the outbox sends), through the app's own transport
// classes — SocketFirst over an authenticated RelaySocket, and RelayApi.sendMessage over HTTP
// keep-alive (the path it falls back to) — against the real relay (e2e/relay.ts: its own
// embedded PostgreSQL; its log level is info, which logs nothing per request). The two paths alternate in blocks so a change of load
// on this shared machine falls on both. Printed: round trip of one send (send call → the
// relay's answer, i.e. after its commit) per path, median and p90, the ratio HTTP ÷ socket,
// and the bench process's CPU per send (the client's share of the work). Every answered id is
// checked at the receiver: lost and duplicated are counted. Node's fetch and `ws` stand in for
// the browser's; the relay's side of the work is the same. No assertion: numbers.
import { generate } from 'otplib';
import WebSocket from 'ws';
import { startRelay } from '../e2e/relay.ts';
import { uploadTestDevice } from '../src/test/device-keys.ts';
import { RelayApi } from '../src/transport/api.ts';
import { SocketFirst } from '../src/transport/socket-first.ts';
import { RelaySocket, type SocketLike } from '../src/transport/ws.ts';

const BLOCKS = Math.min(Number(process.env.BENCH_BLOCKS ?? 10), 40);
const PER_BLOCK = 50;
const BODY_BYTES = 256;
const ORIGIN = 'http://127.0.0.1:5173';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] as number;
};

async function signUp(baseUrl: string, name: string): Promise<RelayApi> {
  const api = new RelayApi({ baseUrl });
  const start = await api.register(name);
  await api.confirmRegistration(start.username, await generate({ secret: start.secret }));
  await uploadTestDevice(api, start.username);
  return api;
}

async function main(): Promise<void> {
  // The send rate limit at its highest: the bench sends faster than a person.
  const relay = await startRelay(ORIGIN, {
    SEND_RATE_BURST: '10000',
    SEND_RATE_PER_SECOND: '1000',
  });
  const baseUrl = `http://127.0.0.1:${relay.port}`;
  const socketOf = (api: RelayApi) =>
    new RelaySocket({
      url: `ws://127.0.0.1:${relay.port}/ws`,
      token: async () => api.http.accessToken,
      cursor: () => 0,
      onFrame: () => undefined,
      createSocket: (url) => new WebSocket(url, { origin: ORIGIN }) as unknown as SocketLike,
      isOnline: () => true,
    });
  try {
    const run = Math.random().toString(36).slice(2, 7);
    const alice = await signUp(baseUrl, `bench_a_${run}`);
    const bobName = `bench_b_${run}`;
    const bob = await signUp(baseUrl, bobName);
    const socket = socketOf(alice);
    socket.start();
    while (socket.status !== 'online') await new Promise((r) => setTimeout(r, 20));
    let overSocket = 0;
    const viaSocket = new SocketFirst({
      api: alice,
      socket: () => socket,
      onPath: (_, path) => {
        if (path === 'socket') overSocket += 1;
      },
    });
    const body = crypto.getRandomValues(new Uint8Array(BODY_BYTES));
    const paths = {
      socket: (id: string) => viaSocket.sendMessage(bobName, id, [{ deviceId: 1, body }]),
      http: (id: string) => alice.sendMessage(bobName, id, [{ deviceId: 1, body }]),
    };
    const times: Record<keyof typeof paths, number[]> = { socket: [], http: [] };
    const cpu: Record<keyof typeof paths, number> = { socket: 0, http: 0 };
    const answered = new Set<number>();
    let n = 0;
    // Warm-up, not counted: connections, JIT, the relay's prepared statements.
    for (let i = 0; i < 20; i++) {
      answered.add((await paths.socket(`w${n++}`)).id);
      answered.add((await paths.http(`w${n++}`)).id);
    }
    for (let block = 0; block < BLOCKS; block++) {
      const order = block % 2 === 0 ? (['socket', 'http'] as const) : (['http', 'socket'] as const);
      for (const path of order) {
        const before = process.cpuUsage();
        for (let i = 0; i < PER_BLOCK; i++) {
          const t0 = performance.now();
          const result = await paths[path](`m${n++}`);
          times[path].push(performance.now() - t0);
          answered.add(result.id);
        }
        const used = process.cpuUsage(before);
        cpu[path] += (used.user + used.system) / 1000;
      }
    }
    socket.stop();
    // Every answered id is at the receiver exactly once.
    const seen: number[] = [];
    for (let cursor = 0; ; ) {
      const page = await bob.messages(cursor, 100);
      seen.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
      if (!page.hasMore) break;
    }
    const held = new Set(seen);
    const lost = [...answered].filter((id) => !held.has(id)).length;
    const duplicated = seen.length - held.size;
    const count = BLOCKS * PER_BLOCK;
    const row = (path: keyof typeof paths) =>
      `| ${path === 'socket' ? 'send frame on the open socket (SocketFirst)' : 'POST /send_message (RelayApi, keep-alive)'} | ${quantile(times[path], 0.5).toFixed(2)} ms | ${quantile(times[path], 0.9).toFixed(2)} ms | ${(cpu[path] / count).toFixed(3)} ms |`;
    console.log(
      [
        `${count} sends per path in ${BLOCKS} alternating blocks, ${BODY_BYTES}-byte bodies, one outstanding; ${overSocket - 20} of the socket path's answered on the socket`,
        '',
        '| path | round trip p50 | p90 | bench-process CPU per send |',
        '| --- | --- | --- | --- |',
        row('socket'),
        row('http'),
        '',
        `HTTP ÷ socket: round trip p50 ${(quantile(times.http, 0.5) / quantile(times.socket, 0.5)).toFixed(2)}×, p90 ${(quantile(times.http, 0.9) / quantile(times.socket, 0.9)).toFixed(2)}×, client CPU ${(cpu.http / cpu.socket).toFixed(2)}×`,
        `lost ${lost}, duplicated ${duplicated} (of ${answered.size} answered ids)`,
      ].join('\n'),
    );
  } finally {
    await relay.stop();
  }
}

await main();
