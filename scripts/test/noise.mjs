// Strings that must never reach a person starting Secure Drop: tool deprecations and timing
// reports, npm's install-scripts warning, terminal colour codes (ESC [).
export const NOISE = [
  /inlineDynamicImports/,
  /deprecated/i,
  /PLUGIN_TIMINGS/,
  /install-scripts/,
  new RegExp(`${String.fromCharCode(27)}\\[`),
];
