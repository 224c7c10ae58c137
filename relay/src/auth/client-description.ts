// The coarse client shown in the sessions list (spec/openapi.yaml SessionInfo.client):
// "<browser> on <OS>" from the User-Agent at login. A tiny ordered mapping rather than a parser
// library: only the family names of the browsers and systems that can run the PWA are wanted,
// never versions or devices (less fingerprint kept), and a full parser (ua-parser-js) would be
// a dependency updated for detail this list does not show. Order matters: Edge, Opera and
// Samsung Internet also say "Chrome"; Chrome also says "Safari"; iOS also says "Mac OS X".
// The result is a hint only: any client can send any User-Agent.

const BROWSERS: [RegExp, string][] = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bChrome\/|\bCriOS\/|\bChromium\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];
const SYSTEMS: [RegExp, string][] = [
  [/\b(iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];
/** Longest User-Agent examined (real ones are well under 512 characters). */
const MAX_UA = 1024;

const first = (table: [RegExp, string][], ua: string) => table.find(([re]) => re.test(ua))?.[1] ?? 'Unknown';

export function describeClient(userAgent: string | undefined): string {
  const ua = (userAgent ?? '').slice(0, MAX_UA);
  return `${first(BROWSERS, ua)} on ${first(SYSTEMS, ua)}`;
}
