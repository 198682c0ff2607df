import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AperturePicker, type ApertureOptions } from '../../src/balancer/aperture.js';
import { count, type FakeNode, makeNodes, sequential, simulate } from './fake-nodes.js';

function aperture(nodes: readonly FakeNode[], options: ApertureOptions = {}): AperturePicker<FakeNode> {
  const p = new AperturePicker<FakeNode>({ seed: 17, ...options });
  p.setNodes(nodes);
  return p;
}

test('aperture: stays at minSize under light load (0–1 calls in flight over 20 nodes)', () => {
  const nodes = makeNodes(20);
  const p = aperture(nodes, { jitter: 0 });
  let biggest = 0;
  const { counts } = simulate(p, { duration: 60_000, concurrency: 1, latency: () => 3, onTick: () => (biggest = Math.max(biggest, p.size)) });
  assert.equal(biggest, 1);
  assert.equal(counts.size, 1, `calls went to ${counts.size} nodes`);
});

test('aperture: widens under heavy load, and narrows again when the load drops', () => {
  const nodes = makeNodes(20);
  const p = aperture(nodes, { jitter: 0 });
  const heavy = simulate(p, { duration: 30_000, concurrency: 30, latency: () => 10 });
  // 30 in flight at ≤ 2 per node needs ≥ 15 nodes; the smoothed load is ~30 after 6 time constants.
  assert.ok(p.size >= 14 && p.size <= 20, `size ${p.size} under 30 in flight`);
  assert.ok(Math.abs(p.smoothedLoad - 30) < 1, `smoothed load ${p.smoothedLoad}`);
  assert.ok(heavy.counts.size >= 14, `spread over ${heavy.counts.size} nodes`);
  simulate(p, { duration: 60_000, concurrency: 1, latency: () => 10, t0: heavy.now });
  // 1 in flight, narrowing while load/size ≤ 0.5: it ends at 1 or 2.
  assert.ok(p.size <= 2, `size ${p.size} after the load dropped to 1`);
});

test('aperture: never wider than the node count, never narrower than minSize', () => {
  const nodes = makeNodes(6);
  const p = aperture(nodes, { jitter: 0, minSize: 2 });
  assert.equal(p.size, 2);
  const r = simulate(p, { duration: 20_000, concurrency: 60, latency: () => 10 });
  assert.equal(p.size, 6);
  simulate(p, { duration: 60_000, concurrency: 1, latency: () => 10, t0: r.now });
  assert.equal(p.size, 2);
  const few = aperture(makeNodes(1), { minSize: 3 });
  assert.equal(few.size, 1, 'clamped to the single node');
});

test('aperture: non-open nodes in the window push it wider: minSize open nodes when possible', () => {
  const nodes = makeNodes(20);
  const p = aperture(nodes, { jitter: 0, minSize: 3 });
  sequential(p, 100);
  const first = [...p.window];
  assert.equal(first.length, 3);
  first[0]!.status = 'busy';
  first[2]!.status = 'closed';
  const counts = sequential(p, 3_000, 1, 100);
  assert.equal(count(counts, first[0]!.key) + count(counts, first[2]!.key), 0, 'no calls to the non-open ones');
  assert.equal(p.window.length, 3, 'still three open nodes in the window');
  assert.ok(p.window.every((n) => n.status === 'open'));
  assert.ok(p.span >= 5, `span ${p.span} covers the two skipped nodes`);
  assert.equal(p.size, 3, 'the aperture itself did not change');
  assert.ok(p.window.includes(first[1]!), 'the healthy one stays');
  // They come back: the periodic rebuild (every second) takes them in again.
  first[0]!.status = 'open';
  first[2]!.status = 'open';
  sequential(p, 2_000, 1, 3_200);
  assert.deepEqual(new Set(p.window), new Set(first));
  assert.equal(p.span, 3);
});

test('aperture: with fewer open nodes than minSize, the window takes all the open ones', () => {
  const nodes = makeNodes(4);
  nodes[1]!.status = 'busy';
  nodes[2]!.status = 'busy';
  const p = aperture(nodes, { jitter: 0, minSize: 3 });
  const counts = sequential(p, 1_000);
  assert.equal(p.span, 4);
  assert.equal(p.window.length, 2);
  assert.ok(count(counts, nodes[0]!.key) > 300 && count(counts, nodes[3]!.key) > 300);
});

test('aperture: the window slides over time (jitter), so every node gets its turn', () => {
  const nodes = makeNodes(20);
  const p = aperture(nodes, { jitter: 120_000 });
  const slots: string[] = [];
  const used = new Set<string>();
  // One call a second for 2 hours of virtual time, window size 1.
  for (let t = 0; t < 7_200_000; t += 1000) {
    const node = p.pick(t)!;
    node.load++;
    p.started(node, t);
    node.load--;
    p.finished(node, 1, false, t + 1);
    used.add(node.key);
    if (t % 600_000 === 0) slots.push(node.key);
  }
  // Every 120–240 s the window moves one node: 30–60 moves in 2 h, over a ring of 20.
  assert.equal(used.size, 20, `used ${used.size} nodes`);
  assert.ok(new Set(slots).size >= 6, `10-minute samples: ${slots.join(' ')}`);
});

test('aperture: with jitter 0 the window never moves (control)', () => {
  const nodes = makeNodes(20);
  const p = aperture(nodes, { jitter: 0 });
  const counts = sequential(p, 5_000, 1000);
  assert.equal(counts.size, 1);
});

test('aperture: clients with different seeds start on different subsets', () => {
  const nodes = makeNodes(20);
  const chosen = new Set<string>();
  for (let seed = 0; seed < 40; seed++) chosen.add(aperture(nodes, { seed }).pick(0)!.key);
  assert.ok(chosen.size >= 12, `40 clients landed on ${chosen.size} distinct nodes`);
});

test('aperture: the ring order survives membership changes (no reshuffle)', () => {
  const nodes = makeNodes(20);
  const p = aperture(nodes, { jitter: 0, minSize: 5 });
  sequential(p, 10);
  const before = [...p.window];
  p.setNodes(nodes.concat(makeNodes(1, 'extra')));
  sequential(p, 10, 1, 10);
  const after = p.window;
  const kept = before.filter((n) => after.includes(n)).length;
  assert.ok(kept >= 4, `kept ${kept} of 5 window nodes after adding one node`);
});
