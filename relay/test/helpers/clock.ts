import type { Clock } from '../../src/clock.js';

/** A clock tests move by hand; starts at `start` (ms). */
export class TestClock implements Clock {
  constructor(private t = Date.UTC(2026, 0, 1, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
