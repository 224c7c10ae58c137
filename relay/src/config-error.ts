/** A configuration problem found at start; its message names the variable, never a secret's value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
