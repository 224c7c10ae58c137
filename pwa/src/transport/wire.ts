// Request and response bodies of the relay API as sent on the wire (snake_case, base64
// bytes), taken from the types generated from spec/openapi.yaml (`npm run gen:api -w pwa`
// regenerates openapi.d.ts): when the spec changes, a mismatch here is a type error.
import type { components, operations } from './openapi.d.ts';

type Schemas = components['schemas'];
/** The JSON body of operation `Op`'s response `Status`. */
type Json<
  Op extends keyof operations,
  Status extends keyof operations[Op]['responses'],
> = operations[Op]['responses'][Status] extends {
  content: { 'application/json': infer Body };
}
  ? Body
  : never;

export type SessionTokensWire = Schemas['Session'];
export type RegisterStartWire = Schemas['Registration'];
export type RegisterConfirmWire = Json<'confirmRegistration', 201>;
export type KeysUploadWire = Schemas['KeyUpload'];
export type KeysUploadResultWire = Json<'uploadKeys', 200>;
export type KeyStatusWire = Json<'keyStatus', 200>;
export type BundleWire = Json<'fetchBundle', 200>;
export type IdentityWire = Json<'lookupIdentity', 200>;
export type ContactWire = Schemas['Contact'];
export type ContactListWire = Json<'listContacts', 200>;
export type SendMessageResultWire = Schemas['SendResult'];
export type MessagesPageWire = Json<'getMessages', 200>;
export type AckResultWire = Json<'ack', 200>;
export type SessionListWire = Json<'listSessions', 200>;
export type RecoveryCodesWire = Json<'regenerateRecoveryCodes', 200>;
