// Names of browsers and systems as the app and the relay write them ("Chrome on Linux": the
// device name this app gives itself, state/devices.ts describeThisDevice; the session's client,
// relay/src/auth/client-description.ts), shown in the user's language. Only that exact shape
// with those names is translated; anything else is shown as it is.
import type { Translate } from '../i18n/i18n.ts';

/** Browser names both writers use; "Browser" and "Unknown" stand for one they did not know. */
const BROWSERS = new Set(['Edge', 'Opera', 'Samsung Internet', 'Firefox', 'Chromium', 'Chrome', 'Safari']);
const SYSTEMS = new Set(['iOS', 'Android', 'ChromeOS', 'Windows', 'macOS', 'Linux']);
const UNKNOWN = new Set(['Browser', 'Unknown']);

/** `text` in the user's language when it is "<browser> on <system>" or a lone browser name. */
export function clientLabel(text: string, t: Translate): string {
  const browser = (b: string) => (UNKNOWN.has(b) ? t('client.someBrowser') : b);
  const match = /^(.+) on (.+)$/.exec(text);
  if (!match) return UNKNOWN.has(text) ? t('client.someBrowser') : text;
  const [, b = '', os = ''] = match;
  if (!(BROWSERS.has(b) || UNKNOWN.has(b)) || !(SYSTEMS.has(os) || os === 'Unknown')) return text;
  return t('client.on', { browser: browser(b), os: os === 'Unknown' ? t('client.someSystem') : os });
}
