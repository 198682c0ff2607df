import assert from 'node:assert/strict';
import { test } from 'node:test';
import { P2CPicker } from '../../src/balancer/p2c.js';
import { PeakEwmaPicker } from '../../src/balancer/p2c-ewma.js';
import type { Picker } from '../../src/balancer/types.js';
import { count, type FakeNode, finishCall, makeNodes, simulate, startCall, total } from './fake-nodes.js';

/** One call at a time, so every node has load 0 when picked: only latency can tell them apart. */
function slowShare(picker: Picker<FakeNode>): number {
  const nodes = makeNodes(10);
  const slow = nodes[3]!;
  picker.setNodes(nodes);
  const { counts } = simulate(picker, { duration: 60_000, concurrency: 1, latency: (n) => (n === slow ? 50 : 5) });
  return count(counts, slow.key) / (total(counts) / nodes.length);
}

test('p2c-ewma: avoids a slow node even when loads are equal', () => {
  const share = slowShare(new PeakEwmaPicker({ seed: 4 }));
  assert.ok(share < 1 / 3, `slow node got ${share.toFixed(2)} of a fair share`);
});

test('control: plain p2c cannot tell the slow node apart when loads are equal', () => {
  const share = slowShare(new P2CPicker({ seed: 4 }));
  assert.ok(share > 0.7, `slow node got ${share.toFixed(2)} of a fair share`);
});

test('p2c-ewma: a sample above the average replaces it; one below pulls it with weight 1 − exp(−Δt/decayTime)', () => {
  const p = new PeakEwmaPicker<FakeNode>({ seed: 1, decayTime: 1000 });
  const [a] = makeNodes(1);
  p.setNodes([a!]);
  const call = (at: number, latency: number, failed = false): void => {
    a!.load++;
    p.started(a!, at - latency);
    a!.load--;
    p.finished(a!, latency, failed, at);
  };
  call(1000, 20);
  assert.equal(p.latency(a!, 1000), 20);
  call(1000, 80);
  assert.equal(p.latency(a!, 1000), 80, 'peak: jumps up at once');
  call(2000, 10);
  const w = Math.exp(-1);
  assert.ok(Math.abs(p.latency(a!, 2000)! - (80 * w + 10 * (1 - w))) < 1e-9);
  const before = p.latency(a!, 2000)!;
  // Reading decays toward 0 between samples (Finagle's get() observes a 0) without changing state.
  assert.ok(Math.abs(p.latency(a!, 3000)! - before * w) < 1e-9);
  assert.ok(Math.abs(p.latency(a!, 3000)! - before * w) < 1e-9, 'reading twice gives the same answer');
  // A fast failure does not make the node look quick; a slow one still counts.
  call(3000, 1, true);
  assert.ok(Math.abs(p.latency(a!, 3000)! - before * w) < 1e-9);
  call(3000, 500, true);
  assert.equal(p.latency(a!, 3000), 500);
  // "Above the average" means above its decayed value: 5 s later 500 has decayed to ~3.4.
  call(8000, 30);
  assert.equal(p.latency(a!, 8000), 30);
  // A 0 ms sample counts as 0.01 ms, not as "no sample"; a sub-ms sample counts as itself.
  const [b] = makeNodes(1, 'b');
  p.setNodes([a!, b!]);
  b!.load++;
  p.started(b!, 4000);
  b!.load--;
  p.finished(b!, 0, false, 4000);
  assert.equal(p.latency(b!, 4000), 0.01);
  b!.load++;
  p.started(b!, 4000);
  b!.load--;
  p.finished(b!, 0.25, false, 4000);
  assert.equal(p.latency(b!, 4000), 0.25);
});

test('p2c-ewma: a new node gets one probe, then waits for its answer', () => {
  const nodes = makeNodes(2);
  const [old, fresh] = nodes as [FakeNode, FakeNode];
  const p = new PeakEwmaPicker<FakeNode>({ seed: 2 });
  p.setNodes([old]);
  const warm = startCall(p, 0, 10)!;
  finishCall(p, warm, 10);
  p.setNodes(nodes);
  const probe = startCall(p, 10, 30)!;
  assert.equal(probe.node, fresh, 'no samples yet: cost 0 wins');
  // While the probe is out, the new node costs a penalty: even a loaded old node beats it.
  const more = [startCall(p, 11)!, startCall(p, 11)!, startCall(p, 11)!, startCall(p, 11)!];
  for (const c of more) assert.equal(c.node, old);
  for (const c of more) finishCall(p, c, 20);
  finishCall(p, probe, 40);
  assert.equal(p.latency(fresh, 40), 30);
});

test('p2c-ewma: a node slow once is tried again later, not starved forever', () => {
  const nodes = makeNodes(5);
  const flaky = nodes[0]!;
  const p = new PeakEwmaPicker<FakeNode>({ seed: 8 });
  p.setNodes(nodes);
  let slow = true;
  const latency = (n: FakeNode): number => (n === flaky && slow ? 200 : 5);
  const first = simulate(p, { duration: 10_000, concurrency: 1, latency });
  assert.ok(count(first.counts, flaky.key) < total(first.counts) / 5 / 3, 'avoided while slow');
  slow = false;
  simulate(p, { duration: 120_000, concurrency: 1, latency, t0: first.now });
  const late = simulate(p, { duration: 20_000, concurrency: 1, latency, t0: first.now + 120_000 });
  const share = count(late.counts, flaky.key) / (total(late.counts) / 5);
  assert.ok(share > 0.7, `after recovering it gets ${share.toFixed(2)} of a fair share`);
});
