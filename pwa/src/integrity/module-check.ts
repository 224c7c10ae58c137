// Every script the page runs is one index.html names with its integrity (build/integrity.ts;
// SECURITY.md "Checking the code your server sends"). index.html preloads each with
// <link rel="modulepreload" integrity>, and the document's module map keeps what such a link
// fetched, so an import() of the URL takes the checked copy. But Chromium's map remembers a
// refused integrity, not a failed fetch: when the preload failed on the network (a dropped
// connection, a 503), the import() would fetch the file again without any check, and a server
// or cache that failed the first request could answer the second with changed code.
//
// So nothing is imported before its preload is known to have loaded: a module is checked by
// adding a link of its own with the same href and integrity and waiting for it. A link whose
// module the map already holds loads at once; one whose first fetch failed fetches again, with
// the integrity; one whose integrity was refused fails at once. A check that fails is tried again
// a few times (a flaky network), then the import is refused.
//
// No imports here: the page's entry (boot.ts) runs this before anything else is loaded, and only
// the entry imports it; the app's code reaches it through integrity/checked-import.ts.

/** A script index.html names: where it is and the integrity it must have. */
interface Named {
  readonly href: string;
  readonly integrity: string;
  /** Preloaded at normal priority: part of what the app needs to start. */
  readonly startup: boolean;
}

/** Attempts per module before an import is refused. */
const CHECK_ATTEMPTS = 3;
/** How long one attempt may take: a file that never arrives fails, never leaves the page waiting. */
const ATTEMPT_TIMEOUT_MS = 60_000;
/** Wait before the first retry, doubled for each next one (ms). */
const RETRY_DELAY_MS = 300;

/** The scripts index.html named, read once: links added later (by this file) are not names. */
let named: readonly Named[] | null = null;
function namedScripts(): readonly Named[] {
  if (named) return named;
  const links =
    typeof document === 'undefined' ? [] : [...document.querySelectorAll('link[rel="modulepreload"]')];
  named = links.flatMap((link) => {
    const href = link.getAttribute('href');
    const integrity = link.getAttribute('integrity');
    if (!href || !integrity) return [];
    return [{ href, integrity, startup: link.getAttribute('fetchpriority') !== 'low' }];
  });
  return named;
}

/** Modules known to be in the module map as checked, or being checked now. */
const checks = new Map<string, Promise<void>>();

function loadOnce(script: Named): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const link = document.createElement('link');
    link.rel = 'modulepreload';
    link.crossOrigin = '';
    link.integrity = script.integrity;
    link.href = script.href;
    const timer = setTimeout(() => reject(new ModuleRefused(script.href)), ATTEMPT_TIMEOUT_MS);
    link.onload = () => {
      clearTimeout(timer);
      resolve();
    };
    link.onerror = () => {
      clearTimeout(timer);
      reject(new ModuleRefused(script.href));
    };
    document.head.append(link);
  });
}

async function checkWithRetries(script: Named): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadOnce(script);
    } catch (err) {
      if (attempt >= CHECK_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * 2 ** (attempt - 1)));
    }
  }
}

/** Browsers without modulepreload (Safari before 17) fire no event for such a link. Asked once. */
let supported: boolean | null = null;
function canCheck(): boolean {
  supported ??= document.createElement('link').relList?.supports?.('modulepreload') === true;
  return supported;
}

function check(script: Named): Promise<void> {
  // Nothing to wait for there: the entry's own integrity and the service worker's checks remain
  // (SECURITY.md "Checking the code your server sends").
  if (!canCheck()) return Promise.resolve();
  let done = checks.get(script.href);
  if (!done) {
    done = checkWithRetries(script);
    // Refused now, asked again later: a network that was down may be back.
    done.catch(() => checks.delete(script.href));
    checks.set(script.href, done);
  }
  return done;
}

/** A script index.html names could not be loaded with its integrity. */
export class ModuleRefused extends Error {
  constructor(readonly href: string) {
    super(`refused to load ${href}: it failed or did not match its integrity`);
    this.name = 'ModuleRefused';
  }
}

/** Where boot.ts installs checkedImport for the app's code (integrity/checked-import.ts). */
export const INSTALLED = Symbol.for('secure-drop.checkedImport');

/** Waits until every script the app starts with is in the module map as checked. */
export async function checkStartupModules(): Promise<void> {
  await Promise.all(
    namedScripts()
      .filter((s) => s.startup)
      .map(check),
  );
}

/**
 * `load` (an import()) once every script index.html names is in the module map as checked: the
 * module and whatever it imports are then taken from there, never fetched unchecked. Where the
 * page names none (the unit tests' DOM, the dev server), `load` runs at once.
 */
export async function checkedImport<T>(load: () => Promise<T>): Promise<T> {
  await Promise.all(namedScripts().map(check));
  return load();
}
