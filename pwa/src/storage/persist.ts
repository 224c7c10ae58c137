// Asks the browser to keep this origin's storage under pressure (SECURITY.md "What a user's
// device holds"), so keys and history are not evicted. Returns null where the API does not exist.
export async function requestPersistentStorage(
  storage: Pick<StorageManager, 'persist' | 'persisted'> | undefined = globalThis.navigator?.storage,
): Promise<boolean | null> {
  if (!storage?.persist) return null;
  try {
    if (await storage.persisted()) return true;
    return await storage.persist();
  } catch {
    return null;
  }
}
