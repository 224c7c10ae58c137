// A prekeys_low item on a real Messenger, from an HONEST relay (it pushes one after a bundle
// fetch leaves a stock low). The top-up asks whether the mailbox is read to the end (eviction,
// spec/protocol.md §4.7), which waits for the incoming stream's queue: run ON that queue, the
// item waited for itself, and the device received nothing more until a reload.
// @vitest-environment node
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { type Device, pair, setUpRelayDevices, texts } from '../test/messenger-devices.ts';
import { registerWithDevice } from '../test/relay.ts';

setUpRelayDevices();

interface Internals {
  incoming: { frames: Promise<void> };
  prekeys: { topUp(): Promise<void> };
}
const internals = (d: Device) => d.m as unknown as Internals;

describe('prekeys_low on the stream (honest relay)', () => {
  it('a prekeys_low item does not stop the incoming stream', async () => {
    const [alice, bob] = await pair(['da', 'db']);
    const a = alice.user.username;
    const b = bob.user.username;
    await bob.m.sendText(a, 'before');
    await until(() => texts(alice, b).includes('before'), 'first message');
    // The top-ups the stream's prekeys_low items start (whether the stock still reads low when
    // the test asks depends on how fast the device tops it up, so that is not what is checked).
    const topUp = vi.spyOn(internals(alice).prekeys, 'topUp');
    onTestFinished(() => topUp.mockRestore());
    // Anyone may fetch bundles: take Alice's stock of 100 below the relay's threshold (20).
    const other = await registerWithDevice('dx');
    for (let i = 0; i < 85; i++) await other.api.bundles(a).catch(() => undefined);
    await until(() => topUp.mock.calls.length > 0, 'a prekeys_low item handled');
    // The stream must drain (the prekeys_low items handled) and a later message arrive.
    await internals(alice).incoming.frames;
    await bob.m.sendText(a, 'after');
    await until(() => texts(alice, b).includes('after'), 'message after prekeys_low');
    // …and the stock was topped up.
    await vi.waitFor(async () => expect((await alice.api.keyStatus()).prekeys_low).toBe(false), {
      timeout: 20_000,
      interval: 50,
    });
  }, 60_000);
});
