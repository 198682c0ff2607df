// The histogram's percentiles against exact nearest-rank percentiles of the same data, within
// the documented bound: max(0.5 unit, 1/64 of the true value).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, Histogram, HISTOGRAM_BUCKETS } from '../../src/stats/histogram.js';
import { Rng } from '../../src/balancer/random.js';

/** Deterministic uniform [0, 1) from a seed (the pickers' PRNG), so a failing run can be replayed. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.float();
}

function exact(sorted: number[], q: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

const QS = [0.5, 0.9, 0.99, 0.999];

function check(name: string, data: number[], resolution = 0.001): void {
  const h = new Histogram(resolution);
  for (const v of data) h.add(v);
  const sorted = [...data].sort((a, b) => a - b);
  const got = h.percentiles(QS);
  for (let i = 0; i < QS.length; i++) {
    const want = exact(sorted, QS[i]!);
    const bound = Math.max(0.5 * resolution, want / 64) + 1e-9;
    assert.ok(Math.abs(got[i]! - want) <= bound, `${name} p${QS[i]! * 100}: got ${got[i]}, exact ${want}, bound ±${bound}`);
  }
  const s = h.snapshot();
  assert.equal(s.count, data.length);
  assert.equal(s.min, sorted[0]);
  assert.equal(s.max, sorted[sorted.length - 1]);
  assert.ok(Math.abs(s.sum - data.reduce((a, b) => a + b, 0)) < 1e-6 * s.sum + 1e-9);
}

test('percentiles within ±max(0.5 unit, 1/64) on several shapes of data', () => {
  const r = rng(42);
  const n = 20_000;
  check(
    'uniform 0..1000 ms',
    Array.from({ length: n }, () => r() * 1000),
  );
  check(
    'exponential mean 5 ms',
    Array.from({ length: n }, () => -Math.log(1 - r()) * 5),
  );
  // Lognormal: a long tail over six orders of magnitude.
  check(
    'lognormal',
    Array.from({ length: n }, () => Math.exp(Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 2)),
  );
  check(
    'sub-millisecond',
    Array.from({ length: n }, () => r() * 0.2),
  );
  check(
    'few distinct values',
    Array.from({ length: n }, (_, i) => [1, 2, 3, 250][i % 4]!),
  );
  check(
    'minutes',
    Array.from({ length: 1000 }, () => 60_000 + r() * 1_000_000),
  );
  check('single value', [7.25]);
  check(
    'integers at resolution 1',
    Array.from({ length: n }, () => Math.floor(r() * 100_000)),
    1,
  );
});

test('bucket index is monotonic, contiguous and bounded', () => {
  let prev = -1;
  for (let u = 0; u < 1 << 20; u++) {
    const b = bucketOf(u);
    assert.ok(b === prev || b === prev + 1, `bucket jumps at ${u}: ${prev} -> ${b}`);
    prev = b;
  }
  assert.equal(bucketOf(0x7fffffff), HISTOGRAM_BUCKETS - 1);
});

test('edge values: empty, negative, NaN, beyond the range', () => {
  const h = new Histogram();
  assert.deepEqual(h.snapshot(), { count: 0, sum: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0 });
  h.add(Number.NaN);
  assert.equal(h.count, 0);
  h.add(-3);
  assert.equal(h.snapshot().min, 0);
  h.add(1e12); // ~31 years in ms: shares the last bucket, max stays exact
  const s = h.snapshot();
  assert.equal(s.count, 2);
  assert.equal(s.max, 1e12);
  assert.ok(s.p99 <= 1e12 && s.p99 > 2_000_000);
});
