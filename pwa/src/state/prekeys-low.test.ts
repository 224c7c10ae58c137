// A prekeys_low item on a real Messenger, from an HONEST relay (it pushes one after a bundle
// fetch leaves a stock low). The top-up asks whether the mailbox is read to the end (eviction,
// spec/protocol.md §4.7), which waits for the incoming stream's queue: run ON that queue, the
// item waited for itself, and the device received nothing more until a reload.
// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { type Device, pair, setUpRelayDevices, texts } from '../test/messenger-devices.ts';
import { registerWithDevice } from '../test/relay.ts';

setUpRelayDevices();

interface Internals {
  incoming: { frames: Promise<void> };
}
const internals = (d: Device) => d.m as unknown as Internals;

describe('prekeys_low on the stream (honest relay)', () => {
  it('a prekeys_low item does not stop the incoming stream', async () => {
    const [alice, bob] = await pair(['da', 'db']);
    const a = alice.user.username;
    const b = bob.user.username;
    await bob.m.sendText(a, 'before');
    await until(() => texts(alice, b).includes('before'), 'first message');
    // Anyone may fetch bundles: take Alice's stock of 100 below the relay's threshold (20).
    const other = await registerWithDevice('dx');
    for (let i = 0; i < 85; i++) await other.api.bundles(a).catch(() => undefined);
    expect((await alice.api.keyStatus()).prekeys_low).toBe(true);
    // The stream must drain (the prekeys_low items handled) and a later message arrive.
    const drained = await Promise.race([
      internals(alice).incoming.frames.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
    ]);
    expect(drained).toBe(true);
    await bob.m.sendText(a, 'after');
    await until(() => texts(alice, b).includes('after'), 'message after prekeys_low', { timeoutMs: 10_000 });
    // …and the stock was topped up.
    let low = true;
    for (let i = 0; i < 50 && low; i++) {
      low = (await alice.api.keyStatus()).prekeys_low;
      if (low) await new Promise((r) => setTimeout(r, 200));
    }
    expect(low).toBe(false);
  }, 60_000);
});
