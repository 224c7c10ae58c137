// The username rule (spec/openapi.yaml components.schemas.Username) checked in the forms too, so
// the user learns it before a round trip; the relay stays the authority. The rule is generated
// from the spec into username-rule.generated.ts, the same module the relay uses
// (relay/README.md "Usernames"); this file is the forms' glue: spaces around a typed name are
// dropped, and a name that breaks the rule is the form's error to show.
import { canonicalUsername, foldUsername } from './username-rule.generated.ts';

export { isReservedUsername, USERNAME_MAX, USERNAME_MIN } from './username-rule.generated.ts';

/** Spaces around are dropped and case folded — only for input NFKC leaves alone (as the
 * relay checks it before folding: the Kelvin sign "K" must not become "k"). */
export function normalizeUsername(raw: string): string {
  const name = raw.trim();
  return foldUsername(name) ?? name;
}

/** True when `name` (as normalizeUsername returns it) is a canonical username. */
export function isValidUsername(name: string): boolean {
  return canonicalUsername(name) === name;
}
