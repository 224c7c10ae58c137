import { describe, expect, it } from 'vitest';
import { requestPersistentStorage } from './persist.ts';

describe('requestPersistentStorage', () => {
  it('asks only when not yet persisted, and reports the answer', async () => {
    let asked = 0;
    const manager = (persisted: boolean, grant: boolean) => ({
      persisted: async () => persisted,
      persist: async () => {
        asked += 1;
        return grant;
      },
    });
    expect(await requestPersistentStorage(manager(true, false))).toBe(true);
    expect(asked).toBe(0);
    expect(await requestPersistentStorage(manager(false, true))).toBe(true);
    expect(await requestPersistentStorage(manager(false, false))).toBe(false);
    expect(asked).toBe(2);
  });

  it('returns null where the API is missing or throws', async () => {
    expect(await requestPersistentStorage(undefined)).toBeNull();
    const broken = {
      persisted: async () => {
        throw new Error('denied');
      },
      persist: async () => true,
    };
    expect(await requestPersistentStorage(broken)).toBeNull();
  });
});
