// End-to-end load distribution over real backend processes (test/peers/scales_backend.ts), for
// the Thrift and the HTTP client:
// - 4 backends, one of them slow (+100 ms per reply): under steady concurrent load (16 callers) the
//   load-aware pickers (p2c, heap, p2c-ewma) send it less than a third of its fair share;
//   round-robin, which ignores load, gives it about a quarter of the calls (so the test can fail);
// - aperture over 8 backends: one sequential caller is served by a small subset; 64 concurrent
//   callers widen the window to clearly more servers.
// Shares are counted from which server answered, and checked against the per-node stats.
//
// Why +100 ms: least-loaded equalises calls in flight, so the slow node's share is about
// (1/L_slow) / (1/L_slow + 3/L_fast), with the latencies *the client sees*. On a busy 2-core box
// the "fast" nodes are not fast: client CPU queueing makes L_fast several ms for HTTP alone, and
// ~15-18 ms with another test file running. Measured HTTP p2c shares: +15 ms → 5-12%, +25 ms →
// 4-7.5%, +40 ms → 4-6% alone but 9.9% beside another file: the algorithm doing its job, but too
// close to the 8.3% line for a test that must not flake. (heap and p2c-ewma had margin throughout.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LoadBalancerConfig } from '../../src/client/options.js';
import { startBackend, startBackendGroup, type Backend, type BackendGroup } from '../harness/backends.js';
import { fmt, makeClient, nodeCounter, PROTOCOLS, runLoad, type Proto } from './dist-helpers.js';

const SLOW_MS = 100;
const CALLS = 2000;
/** Calls per client before counting starts: connections opened, latency averages seeded. */
const WARMUP = 600;
const CONCURRENCY = 16;

function dest(ports: readonly number[]): string {
  return `tcp://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
}

/**
 * Warms a fresh client up with WARMUP calls, then counts `calls` more: answers per backend name,
 * plus the per-node `requests` stats (which include the warm-up).
 */
async function distribute(proto: Proto, ports: readonly number[], lb: LoadBalancerConfig, label: string, calls: number, concurrency: number, warmup = WARMUP) {
  const client = makeClient(proto, dest(ports), label, (b) => b.withLoadBalancer(lb));
  try {
    const warm = await runLoad(client.who, { concurrency, calls: warmup });
    const r = await runLoad(client.who, { concurrency, calls });
    for (const x of [warm, r]) assert.equal(x.failures.size, 0, `${label}: failures ${fmt(x.failures)}: ${String(x.firstErrors[0])}`);
    assert.equal(r.ok, calls);
    const perNode = nodeCounter(client.stats, label);
    return { ...r, warm, perNode };
  } finally {
    await client.close();
  }
}

for (const proto of PROTOCOLS) {
  describe(`${proto}: load distribution over real backends`, () => {
    // Four backend processes (d0 slow); the aperture's eight servers live in two processes of four.
    let four: Backend[] = [];
    let groups: BackendGroup[] = [];
    let fourPorts: number[] = [];
    let eightPorts: number[] = [];

    before(async () => {
      const t0 = Date.now();
      [four, groups] = await Promise.all([
        Promise.all([0, 1, 2, 3].map((i) => startBackend({ protocol: proto, name: `d${i}`, latencyMs: i === 0 ? SLOW_MS : 0 }))),
        Promise.all(['a', 'b'].map((name) => startBackendGroup({ protocol: proto, name, latencyMs: 5, count: 4 }))),
      ]);
      fourPorts = four.map((b) => b.port);
      eightPorts = groups.flatMap((g) => g.ports);
      // Warm the backends' JIT (a cold backend answers in ms, not µs, and would hide the slow one).
      const warm = makeClient(proto, dest([...fourPorts, ...eightPorts]), `${proto}-warmup`, (b) => b.withLoadBalancer('p2c'));
      const r = await runLoad(warm.who, { concurrency: 24, calls: 3000 });
      await warm.close();
      assert.equal(r.failures.size, 0, `warm-up: ${fmt(r.failures)}`);
      console.log(`# ${proto}: backends up and warm in ${Date.now() - t0} ms`);
    });

    after(async () => {
      await Promise.all([...four.map((b) => b.stop()), ...groups.map((g) => g.stop())]);
    });

    const slowShare = async (lb: LoadBalancerConfig, label: string, calls = CALLS, warmup = WARMUP) => {
      const r = await distribute(proto, fourPorts, lb, label, calls, CONCURRENCY, warmup);
      const slow = r.byServer.get('d0') ?? 0;
      const share = slow / calls;
      // The per-node stats agree with the answers (node keys are host:port; they include the warm-up).
      for (const [i, b] of four.entries()) {
        const answered = (r.byServer.get(`d${i}`) ?? 0) + (r.warm.byServer.get(`d${i}`) ?? 0);
        assert.equal(r.perNode.get(`127.0.0.1:${b.port}`), answered, `per-node stats ${fmt(r.perNode)} vs answers ${fmt(r.byServer)} + warm-up ${fmt(r.warm.byServer)}`);
      }
      const sorted = new Map([...r.byServer].sort());
      console.log(`# ${proto} ${label}: ${calls} calls (after ${warmup} warm-up) in ${r.elapsedMs} ms, answers ${fmt(sorted)}; slow d0 share ${(share * 100).toFixed(1)}% (fair 25%)`);
      return share;
    };

    for (const kind of ['p2c', 'heap', 'p2c-ewma'] as const) {
      test(`${kind}: the slow backend gets under a third of its fair share`, async () => {
        const share = await slowShare(kind, `${proto}-${kind}`);
        assert.ok(share < 0.25 / 3, `${kind}: slow backend served ${(share * 100).toFixed(1)}% of calls, want < ${((0.25 / 3) * 100).toFixed(1)}%`);
      });
    }

    test('round-robin (control): the slow backend gets about its fair share', async () => {
      // Fewer calls: round-robin's share does not depend on the count, and every 4th call waits 100 ms
      // (behind the slow node's 8 pooled connections).
      const share = await slowShare('round-robin', `${proto}-round-robin`, 400, 100);
      assert.ok(share > 0.2 && share < 0.3, `round-robin: slow backend served ${(share * 100).toFixed(1)}%, want ~25%`);
    });

    test('aperture: light load stays on a small subset, heavy load widens it', async () => {
      const label = `${proto}-aperture`;
      // smoothWindow 300 ms (default 5 s) so the window reacts within the test's seconds.
      const client = makeClient(proto, dest(eightPorts), label, (b) => b.withLoadBalancer({ kind: 'aperture', minSize: 1, smoothWindow: 300 }));
      try {
        const light = await runLoad(client.who, { concurrency: 1, calls: 200 });
        assert.equal(light.failures.size, 0, `light: ${fmt(light.failures)}`);
        // The window follows the smoothed calls in flight (~64 here, however fast the box is): time-bound.
        const tHeavy = Date.now();
        const heavy = await runLoad(client.who, { concurrency: 64, stop: () => Date.now() - tHeavy > 1500 });
        assert.equal(heavy.failures.size, 0, `heavy: ${fmt(heavy.failures)}`);
        // Once the load is gone the window narrows back: the smoothed load decays from ~64 to ~1 in
        // 300 ms × ln 64 ≈ 1.25 s. One caller keeps calling for 2 s to let it, then 120 calls are counted.
        const t0 = Date.now();
        const settle = await runLoad(client.who, { concurrency: 1, stop: () => Date.now() - t0 > 2000 });
        const cool = await runLoad(client.who, { concurrency: 1, calls: 120 });
        for (const x of [settle, cool]) assert.equal(x.failures.size, 0, `cool-down: ${fmt(x.failures)}`);
        const coolTail = cool.order;
        const heavyTail = heavy.order.slice(-Math.floor(heavy.order.length / 2));
        const distinct = (names: readonly string[]) => new Set(names).size;
        const count = (names: readonly string[]) => {
          const m = new Map<string, number>();
          for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
          return new Map([...m].sort());
        };
        console.log(
          `# ${proto} aperture: light (1 caller, ${light.ok} calls in ${light.elapsedMs} ms): ${fmt(count(light.order))}; ` +
            `heavy (64 callers, ${heavy.ok} calls in ${heavy.elapsedMs} ms), last ${heavyTail.length}: ${fmt(count(heavyTail))}; ` +
            `cool-down: ${settle.ok} calls in ${settle.elapsedMs} ms, then ${cool.ok} calls: ${fmt(count(coolTail))}`,
        );
        assert.ok(distinct(light.order) <= 2, `light load used ${distinct(light.order)} servers: ${fmt(count(light.order))}`);
        assert.ok(distinct(heavyTail) >= 6, `heavy load used only ${distinct(heavyTail)} servers: ${fmt(count(heavyTail))}`);
        assert.ok(distinct(coolTail) <= 2, `after the load dropped, ${distinct(coolTail)} servers: ${fmt(count(coolTail))}`);
      } finally {
        await client.close();
      }
    });
  });
}
