// Debian's Chromium through playwright-core; no browser is ever downloaded.
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** What a page reports when the CSP (including Trusted Types) or SRI blocks something. */
const POLICY_MESSAGE =
  /Content Security Policy|Trusted ?Type|TrustedHTML|TrustedScript|Refused to|integrity|CSP-VIOLATION/i;

/**
 * Collects every CSP / Trusted Types / SRI violation in `context`'s pages: the
 * `securitypolicyviolation` event (CSP Level 3 §5.3), reported through the console by an init
 * script (devtools-injected, so the CSP itself does not block it), plus the browser's own
 * console messages and uncaught errors about them. The array stays empty while all is well.
 */
export async function watchPolicyViolations(context: BrowserContext): Promise<string[]> {
  const seen: string[] = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP-VIOLATION ${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (POLICY_MESSAGE.test(m.text())) seen.push(m.text());
    });
    page.on('pageerror', (e) => {
      if (POLICY_MESSAGE.test(e.message)) seen.push(e.message);
    });
  };
  for (const page of context.pages()) watch(page);
  context.on('page', watch);
  return seen;
}

/** Keeps the Blob behind every object URL the app makes (window.__blobs), so a test can read a photo's bytes. */
export async function keepObjectUrlBlobs(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const blobs = new Map<string, Blob>();
    (window as unknown as { __blobs: Map<string, Blob> }).__blobs = blobs;
    const create = URL.createObjectURL.bind(URL);
    URL.createObjectURL = (obj: Blob | MediaSource) => {
      const url = create(obj);
      if (obj instanceof Blob) blobs.set(url, obj);
      return url;
    };
  });
}
