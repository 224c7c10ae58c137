// The only runtime globals crypto-core relies on beyond ES2022. They exist in every
// target (browsers, workers, Node ≥ 20); declared here because the package compiles
// with neither DOM nor Node types (issue: "no DOM, no Node-only API").
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
