// The only runtime globals crypto-core relies on beyond ES2022. They exist in every
// target (browsers, workers, Node ≥ 20); declared here because the package compiles
// with neither DOM nor Node types (README: "no DOM or Node-only API").
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array): string;
}
/** Base64 of a binary string (HTML standard; Node ≥ 16): the JWK encoding of x25519-backend.ts. */
declare function btoa(data: string): string;
/** Bytes (as a binary string) of base64 text, padding optional (HTML standard; Node ≥ 16). */
declare function atob(data: string): string;
