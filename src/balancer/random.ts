/**
 * A small, fast, seedable PRNG (mulberry32) for the pickers: a pick draws two numbers, so
 * Math.random's cost and its unseedability both matter (tests must be deterministic).
 * Not cryptographic.
 */
export class Rng {
  private state: number;

  /** `seed` defaults to a random one; equal seeds give equal sequences. */
  constructor(seed: number = (Math.random() * 0x1_0000_0000) >>> 0) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, n) for 0 < n ≤ 2^32 (multiply-shift: no modulo bias worth noting, no division). */
  int(n: number): number {
    return Math.floor((this.nextU32() / 0x1_0000_0000) * n);
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.nextU32() / 0x1_0000_0000;
  }
}
