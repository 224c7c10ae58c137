// The session's tokens, kept in the account's encrypted store for every tab of this browser and
// for the next page load (transport/http.ts TokenKeeper: why what is kept must always be the
// newest refresh token, and how a refresh keeps it so).
import { KeyedMutex } from '../secure/mutex.ts';
import type { Storage } from '../storage/storage.ts';
import type { KeptTokens, TokenKeeper, TokenPlace, Tokens } from '../transport/http.ts';

/** The store record holding them. */
export const AUTH = 'auth';

/**
 * As stored. The access token is kept with the refresh token (same protection) so that reloading
 * the app within its 15 minutes does not rotate the refresh token at all.
 */
export interface StoredAuth {
  readonly username: string;
  readonly refreshToken: string;
  readonly accessToken?: string;
  readonly accessExpiresAt?: number;
  /** KeptTokens.exchangeId. */
  readonly exchangeId?: string;
}

export const storedAuth = (username: string, t: Tokens, exchangeId?: string): StoredAuth => ({
  username,
  refreshToken: t.refreshToken,
  ...(t.accessExpiresAt ? { accessToken: t.accessToken, accessExpiresAt: t.accessExpiresAt } : {}),
  ...(exchangeId ? { exchangeId } : {}),
});

/** The tokens a stored record holds. */
export const tokensOf = (s: StoredAuth): Tokens => ({
  accessToken: s.accessToken ?? '',
  refreshToken: s.refreshToken,
  ...(s.accessExpiresAt ? { accessExpiresAt: s.accessExpiresAt } : {}),
});

const keptOf = (s: StoredAuth): KeptTokens => ({
  tokens: tokensOf(s),
  ...(s.exchangeId ? { exchangeId: s.exchangeId } : {}),
});

/**
 * The lock for reading and writing an account's tokens: the Web Lock
 * 'secure-drop:session-tokens:<username>' across the tabs of this browser (secure/mutex.ts), and
 * one queue per page — a module, so two apps in one page (tests) share it as two tabs share the
 * Web Lock.
 */
const lock = new KeyedMutex();
export const underTokenLock = <T>(username: string, task: () => Promise<T>): Promise<T> =>
  lock.run(`session-tokens:${username}`, task);

/** The store the session in this page keeps its tokens in, if one is open. */
export interface TokenHome {
  readonly store: Storage;
  readonly username: string;
}

/**
 * A TokenKeeper over the store `home()` gives as each refresh starts. With none (a login or a
 * registration not finished yet) nothing is kept, and there is nothing to wait for.
 */
export function storeKeeper(home: () => TokenHome | null): TokenKeeper {
  return {
    exclusive: (task) => {
      const h = home();
      return h ? underTokenLock(h.username, () => task(placeIn(h))) : task(null);
    },
  };
}

function placeIn({ store, username }: TokenHome): TokenPlace {
  return {
    async read() {
      const saved = await store.get<StoredAuth>(AUTH);
      return saved ? keptOf(saved) : null;
    },
    write: (kept) => store.put(AUTH, storedAuth(username, kept.tokens, kept.exchangeId)),
  };
}
