/**
 * The two things crypto-core takes from its environment, injectable so that tests and
 * spec/vectors are deterministic: a source of random bytes and a clock.
 */
import { randomBytes } from '@noble/hashes/utils.js';

/** Returns `n` cryptographically secure random bytes. */
export type RandomSource = (n: number) => Uint8Array;
/** Returns the current time in milliseconds since the Unix epoch. */
export type Clock = () => number;

export const systemRandom: RandomSource = (n) => randomBytes(n);
export const systemClock: Clock = () => Date.now();
