// The warning that this account's identity key was replaced from another device
// (SECURITY.md, "Trust model"): raised by the relay's identity_replaced event or by the check
// on every start, stored, and kept across restarts until the user dismisses it.
import { loadIdentity, loadPrekeyState } from '../../secure/account-keys.ts';
import type { Storage } from '../../storage/storage.ts';
import type { RelayApi } from '../../transport/api.ts';
import type { MessengerSinks, OwnIdentityWarning } from './sinks.ts';

const OWN_IDENTITY_WARNING = 'own-identity-warning';

export class OwnIdentityWatch {
  constructor(
    private readonly o: {
      readonly username: string;
      readonly storage: Storage;
      readonly api: Pick<RelayApi, 'identity'>;
      readonly sink: MessengerSinks['ownIdentity'];
      readonly clock: () => number;
    },
  ) {}

  async load(): Promise<void> {
    if (this.o.sink)
      this.o.sink.value = (await this.o.storage.get<OwnIdentityWarning>(OWN_IDENTITY_WARNING)) ?? null;
  }

  /** Raises the persistent warning (kept, also across restarts, until dismissed). */
  async warn(at: number): Promise<void> {
    if (this.o.sink?.value) return;
    const warning: OwnIdentityWarning = { at };
    await this.o.storage.put(OWN_IDENTITY_WARNING, warning);
    if (this.o.sink) this.o.sink.value = warning;
  }

  async dismiss(): Promise<void> {
    await this.o.storage.delete(OWN_IDENTITY_WARNING);
    if (this.o.sink) this.o.sink.value = null;
  }

  /**
   * On every start (going online): the relay must still publish THIS device's identity key for
   * the account (GET /identity, spends nothing). Another key there means the account was
   * re-keyed elsewhere — by the owner on another device, or by someone holding the account.
   * Skipped while this device's own key has not been accepted by the relay yet.
   */
  async check(): Promise<void> {
    const [mine, state] = await Promise.all([loadIdentity(this.o.storage), loadPrekeyState(this.o.storage)]);
    if (!mine || !state.identityUploaded) return;
    const published = await this.o.api.identity(this.o.username);
    const a = published.identityKey;
    const b = mine.keyPair.publicKey;
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) await this.warn(this.o.clock());
  }
}
