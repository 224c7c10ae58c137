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
export type BlockListWire = Json<'listBlocks', 200>;
export type RecoveryCodesWire = Json<'regenerateRecoveryCodes', 200>;

/** A JSON request body of operation `Op`. */
type JsonBody<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { 'application/json': infer Body } };
}
  ? Body
  : never;

export type SendMessageBodyWire = JsonBody<'sendMessage'>;
export type AckBodyWire = JsonBody<'ack'>;

// WebSocket frames (GET /ws): spec/ws-frames.schema.json, which spec/openapi.yaml references
// (components WsClientFrame, WsServerFrame), so `npm run gen:api -w pwa` generates them into
// openapi.d.ts with the HTTP types and the same drift test holds them to the schema.
export type AuthFrameWire = Schemas['AuthFrame'];
/** A send frame: its `message` is POST /send_message's body (the schema leaves it to that route). */
export type SendFrameWire = Omit<Schemas['SendFrame'], 'message'> & { message: SendMessageBodyWire };
/** An ack frame: its `ack` is POST /ack's body. */
export type AckFrameWire = Omit<Schemas['AckFrame'], 'ack'> & { ack: AckBodyWire };
export type ResponseFrameWire = Schemas['ResponseFrame'];
export type WsServerFrameWire = Schemas['WsServerFrame'];
export type WsCloseCodeWire = Schemas['WsCloseCode'];
