// The app's dynamic imports, each through the check the page's entry installed
// (integrity/module-check.ts, boot.ts): nothing is imported before index.html's preload of it
// has loaded with its integrity. This file does not import the check itself: only the entry may
// hold it (a module both import would become a chunk the entry loads unchecked; the build refuses
// that, build/integrity.ts).
// The key module-check.ts exports as INSTALLED, written out: importing it would share that module.
const INSTALLED = Symbol.for('secure-drop.checkedImport');

type CheckedImport = <T>(load: () => Promise<T>) => Promise<T>;

/**
 * `load` (an import()) once it is safe (see module-check.ts). Where no entry installed the check
 * (the unit tests, the dev server: no index.html names), `load` runs at once.
 */
export function checkedImport<T>(load: () => Promise<T>): Promise<T> {
  const installed = (globalThis as Record<symbol, unknown>)[INSTALLED] as CheckedImport | undefined;
  return installed ? installed(load) : load();
}
