// Which protocol version this device's stored keys and sessions speak (spec/protocol.md:
// version 2 refuses every version 1 structure with UNSUPPORTED_VERSION). Version 1 had no
// users to migrate, so a device holding version 1 state starts over: new keys, its sessions
// dropped, its history kept out of the new store — and the user is told so (app.ts).
import { CryptoCoreError } from '@secure-drop/crypto-core/errors';
import { deserializeSession } from '@secure-drop/crypto-core/session-codec';
import type { Storage } from '../storage/storage.ts';
import { RECORD, STORE_FORMAT, type StoredIdentity } from './records.ts';

const SESSION_PREFIX = RECORD.session('');

/**
 * True when the store holds keys written by protocol version 1: no (or an older) format
 * marker beside an identity key, or a stored session crypto-core refuses as
 * UNSUPPORTED_VERSION. A store without keys is not version 1: it is empty.
 */
export async function holdsVersion1State(storage: Storage): Promise<boolean> {
  if (!(await storage.get<StoredIdentity>(RECORD.identity))) return false;
  if ((await storage.get<number>(RECORD.format)) !== STORE_FORMAT) return true;
  for (const { value } of await storage.list<Uint8Array[]>(SESSION_PREFIX)) {
    for (const bytes of value) {
      try {
        deserializeSession(bytes);
      } catch (err) {
        if (err instanceof CryptoCoreError && err.code === 'UNSUPPORTED_VERSION') return true;
        // Any other failure is not a version question: the session manager reports it.
      }
    }
  }
  return false;
}
