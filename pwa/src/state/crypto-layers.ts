// Everything that pulls in crypto-core and noble (about a third of the app's JavaScript),
// loaded on demand by app.ts with import(): the login screen and the first paint do not wait
// for it (pwa/BENCHMARKS.md: initial JavaScript). The service worker precaches this chunk,
// so an offline start can load it too.
export {
  createAccountKeys,
  loadDeviceId,
  publishAccountKeys,
  publishDeviceKeys,
  resumeDevice,
} from '../secure/account-keys.ts';
export { holdsVersion1State } from '../secure/store-format.ts';
export {
  approveLink,
  completeLink,
  describeThisDevice,
  inspectLinkCode,
  openLinkPayload,
  openLinkRequest,
  waitForProvisioning,
} from './devices.ts';
export { Messenger } from './messenger.ts';
export { compareScannedDuringChange, compareScannedText, safetyNumberOf } from './safety.ts';
