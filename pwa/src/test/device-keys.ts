// A device for an account in tools that have no IndexedDB (Node benches, e2e runners): fresh
// identity and signed prekeys, uploaded as the account's first device (spec/protocol.md §16 —
// message routes and /ws need a session bound to a device). The secrets are dropped: such a
// device sends and receives opaque test bodies only.
import { generateIdentity } from '@secure-drop/crypto-core/identity';
import { signIdentityProof } from '@secure-drop/crypto-core/identity-proof';
import { generatePqPreKey, generateSignedPreKey } from '@secure-drop/crypto-core/prekeys';
import type { RelayApi } from '../transport/api.ts';

/** Uploads a bundle for `username` on `api`'s session; returns the relay's device id. */
export async function uploadTestDevice(api: Pick<RelayApi, 'uploadKeys'>, username: string): Promise<number> {
  const id = generateIdentity();
  const spk = generateSignedPreKey(id, 1);
  const pq = generatePqPreKey(id, 1);
  const { deviceId } = await api.uploadKeys({
    identityKey: id.publicKey,
    identityProof: signIdentityProof(id, username),
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
  });
  if (deviceId === null) throw new Error('the relay gave no device id');
  return deviceId;
}
