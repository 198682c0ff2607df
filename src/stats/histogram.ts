/**
 * A log-linear histogram in constant memory (864 float64 buckets ≈ 7 KB), HdrHistogram-style.
 *
 * Values are counted in integer `units` of `resolution` (default 0.001: record milliseconds, get
 * microsecond buckets). Units 0..63 each have their own bucket; above that every power of two is
 * split into 32 equal buckets, so a bucket is at most 1/32 of its lower bound wide. Values of
 * 2^31 units or more (35.8 minutes at the default resolution) share the last bucket.
 *
 * Percentiles use the nearest-rank definition (the value at rank ceil(p·count)) and report the
 * middle of the bucket holding that rank, clamped to the exact min and max. Maximum error: the
 * larger of 0.5 unit and 1/64 (1.5625 %) of the true value, for values below 2^31 units.
 * `count`, `sum`, `min`, `max` are exact.
 */

import { InvalidArgumentError } from '../core/errors.js';

const SUB_BITS = 5;
const SUB = 1 << SUB_BITS; // 32 buckets per power of two
const LINEAR_LIMIT = 2 * SUB; // units 0..63: one bucket each
const MAX_UNITS = 0x7fffffff;
export const HISTOGRAM_BUCKETS = ((31 - SUB_BITS) << SUB_BITS) + LINEAR_LIMIT - SUB; // 864

export interface HistogramSnapshot {
  count: number;
  sum: number;
  /** 0 when empty, like every other field. */
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

/** Bucket index of a value already in units (an integer in [0, 2^31)). */
export function bucketOf(units: number): number {
  if (units < LINEAR_LIMIT) return units;
  const k = 31 - Math.clz32(units) - SUB_BITS;
  return (k << SUB_BITS) + (units >>> k);
}

/** Lower bound (in units) and width of bucket `idx`. */
function bucketLow(idx: number): number {
  const k = idx < LINEAR_LIMIT ? 0 : (idx >> SUB_BITS) - 1;
  return (idx - (k << SUB_BITS)) * 2 ** k;
}
function bucketWidth(idx: number): number {
  return idx < LINEAR_LIMIT ? 1 : 2 ** ((idx >> SUB_BITS) - 1);
}

export class Histogram {
  private readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  private readonly perUnit: number;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(readonly resolution = 0.001) {
    if (!(resolution > 0 && Number.isFinite(resolution))) throw new InvalidArgumentError(`resolution must be a positive number, got ${resolution}`);
    this.perUnit = 1 / resolution;
  }

  /** Records one value; negative values count as 0, NaN is ignored. */
  add(value: number): void {
    if (!(value >= 0)) {
      if (Number.isNaN(value)) return;
      value = 0;
    }
    let u = Math.floor(value * this.perUnit);
    if (u > MAX_UNITS) u = MAX_UNITS;
    this.counts[bucketOf(u)]!++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** The value at quantile `q` in [0, 1] (nearest rank), within the error bound above; 0 when empty. */
  percentile(q: number): number {
    return this.percentiles([q])[0]!;
  }

  /** Several quantiles in one pass over the buckets; `qs` must be ascending. */
  percentiles(qs: readonly number[]): number[] {
    const out = new Array<number>(qs.length).fill(0);
    if (this.count === 0) return out;
    const counts = this.counts;
    let seen = 0;
    let qi = 0;
    let rank = this.rankOf(qs[0]!);
    for (let i = 0; i < counts.length && qi < qs.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      seen += c;
      while (qi < qs.length && seen >= rank) {
        const mid = (bucketLow(i) + bucketWidth(i) / 2) * this.resolution;
        out[qi] = mid < this.min ? this.min : mid > this.max ? this.max : mid;
        qi++;
        if (qi < qs.length) rank = this.rankOf(qs[qi]!);
      }
    }
    return out;
  }

  snapshot(): HistogramSnapshot {
    const [p50, p90, p99, p999] = this.percentiles(QUANTILES);
    const empty = this.count === 0;
    return {
      count: this.count,
      sum: this.sum,
      min: empty ? 0 : this.min,
      max: empty ? 0 : this.max,
      mean: empty ? 0 : this.sum / this.count,
      p50: p50!,
      p90: p90!,
      p99: p99!,
      p999: p999!,
    };
  }

  private rankOf(q: number): number {
    const r = Math.ceil(q * this.count);
    return r < 1 ? 1 : r > this.count ? this.count : r;
  }
}

const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;
