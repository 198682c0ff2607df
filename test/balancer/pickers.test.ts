import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { describePicker, makePicker, type PickerKind, type PickerOptions } from '../../src/balancer/pickers.js';
import { Rng } from '../../src/balancer/random.js';
import type { Picker } from '../../src/balancer/types.js';
import { chiSquare, count, type FakeNode, finishCall, makeNodes, sequential, simulate, startCall, total, type Call } from './fake-nodes.js';

type Kind = PickerKind | 'round-robin';
const ALL: readonly Kind[] = ['round-robin', 'heap', 'p2c', 'p2c-ewma', 'aperture'];
const LEAST_LOADED: readonly Kind[] = ['heap', 'p2c', 'p2c-ewma', 'aperture'];

/** Seeded; aperture spans every node unless a test says otherwise (evenness is judged over its window). */
function make(kind: Kind, nodes: readonly FakeNode[], extra: PickerOptions = {}): Picker<FakeNode> {
  const options: PickerOptions = { ...(kind === 'heap' || kind === 'round-robin' ? {} : { seed: 42 }), ...extra };
  if (kind === 'aperture' && extra.minSize === undefined) options.minSize = nodes.length;
  const p = makePicker<FakeNode>(kind, options);
  p.setNodes(nodes);
  return p;
}

for (const kind of ALL) {
  test(`${kind}: spreads evenly over equal nodes, one call at a time`, () => {
    const nodes = makeNodes(20);
    const counts = sequential(make(kind, nodes), 30_000);
    const chi = chiSquare(counts, nodes);
    // 19 degrees of freedom: P(χ² > 45) < 0.001 for a fair random split.
    assert.ok(chi < 45, `χ² = ${chi.toFixed(1)}: ${[...counts.values()].join(' ')}`);
    const values = nodes.map((n) => count(counts, n.key));
    assert.ok(Math.min(...values) > 0.85 * 1500 && Math.max(...values) < 1.15 * 1500, values.join(' '));
  });

  test(`${kind}: spreads evenly over equal nodes with calls overlapping`, () => {
    const nodes = makeNodes(20);
    const { counts } = simulate(make(kind, nodes), { duration: 10_000, concurrency: 16, latency: (_n, rng) => 1 + rng.int(10) });
    assert.ok(total(counts) > 20_000);
    const chi = chiSquare(counts, nodes);
    assert.ok(chi < 45, `χ² = ${chi.toFixed(1)}: ${[...counts.values()].join(' ')}`);
  });

  test(`${kind}: never returns a non-open node while one is open, statuses changing unannounced`, () => {
    const nodes = makeNodes(12);
    const p = make(kind, nodes);
    const rng = new Rng(3);
    const inFlight: Call[] = [];
    for (let now = 0; now < 20_000; now++) {
      if (now % 7 === 0) {
        // Flip a few statuses behind the picker's back; keep at least one node open.
        for (let k = 0; k < 3; k++) nodes[rng.int(nodes.length)]!.status = (['open', 'busy', 'closed'] as const)[rng.int(3)]!;
        if (!nodes.some((n) => n.status === 'open')) nodes[rng.int(nodes.length)]!.status = 'open';
      }
      const call = startCall(p, now, 1 + rng.int(20));
      assert.ok(call !== undefined, 'a node is open');
      assert.equal(call.node.status, 'open', `picked ${call.node.key} (${call.node.status}) at ${now}`);
      inFlight.push(call);
      for (let i = inFlight.length - 1; i >= 0; i--) {
        if (inFlight[i]!.end <= now) finishCall(p, inFlight.splice(i, 1)[0]!, now);
      }
    }
  });

  test(`${kind}: a node marked busy gets no calls until it is open again`, () => {
    const nodes = makeNodes(5);
    const p = make(kind, nodes);
    sequential(p, 100);
    nodes[2]!.status = 'busy';
    nodes[4]!.status = 'closed';
    const during = sequential(p, 2_000, 1, 100);
    assert.equal(count(during, nodes[2]!.key), 0);
    assert.equal(count(during, nodes[4]!.key), 0);
    nodes[2]!.status = 'open';
    const after = sequential(p, 5_000, 1, 5_000);
    assert.ok(count(after, nodes[2]!.key) > 500, `back in rotation: ${count(after, nodes[2]!.key)}`);
  });

  test(`${kind}: panic mode returns a busy node when none is open, never a closed one`, () => {
    const nodes = makeNodes(8);
    const p = make(kind, nodes);
    sequential(p, 50);
    for (const n of nodes) n.status = 'closed';
    nodes[3]!.status = 'busy';
    nodes[6]!.status = 'busy';
    for (let i = 0; i < 200; i++) {
      const call = startCall(p, 1000 + i);
      assert.ok(call !== undefined);
      assert.equal(call.node.status, 'busy');
      finishCall(p, call, 1000 + i);
    }
  });

  test(`${kind}: undefined with no nodes, or when all are closed`, () => {
    const p = makePicker<FakeNode>(kind, kind === 'aperture' ? { seed: 1 } : {});
    assert.equal(p.pick(0), undefined, 'before setNodes');
    p.setNodes([]);
    assert.equal(p.pick(0), undefined, 'empty set');
    const nodes = makeNodes(6);
    p.setNodes(nodes);
    sequential(p, 20);
    for (const n of nodes) n.status = 'closed';
    assert.equal(p.pick(100), undefined, 'all closed');
    nodes[5]!.status = 'busy';
    assert.equal(p.pick(100), nodes[5], 'one came back busy');
    const one = makeNodes(1, 'solo');
    p.setNodes(one);
    assert.equal(p.pick(101), one[0]);
    one[0]!.status = 'closed';
    assert.equal(p.pick(102), undefined, 'the single node is closed');
  });

  test(`${kind}: membership changes with calls in flight; removed nodes are never picked again`, () => {
    const rng = new Rng(11);
    let live = makeNodes(10, 'a');
    let next = 0;
    const p = make(kind, live, kind === 'aperture' ? { minSize: 3 } : {});
    const inFlight: Call[] = [];
    const removed = new Set<FakeNode>();
    for (let now = 0; now < 10_000; now++) {
      if (now % 50 === 0) {
        const keep = live.filter(() => rng.float() < 0.8);
        for (const n of live) if (!keep.includes(n)) removed.add(n);
        const added = makeNodes(1 + rng.int(3), `b${next++}-`);
        live = keep.concat(added);
        if (rng.float() < 0.5) live.reverse();
        p.setNodes(live);
      }
      const call = startCall(p, now, 1 + rng.int(30));
      assert.ok(call !== undefined);
      assert.ok(!removed.has(call.node), `picked removed ${call.node.key}`);
      assert.ok(live.includes(call.node));
      inFlight.push(call);
      // Calls on removed nodes still finish (the Balancer drains them) and must not upset the picker.
      for (let i = inFlight.length - 1; i >= 0; i--) {
        if (inFlight[i]!.end <= now) finishCall(p, inFlight.splice(i, 1)[0]!, now);
      }
    }
  });

  test(`${kind}: same seed and calls → same picks; another seed → other picks`, () => {
    const run = (seed: number): string[] => {
      const nodes = makeNodes(30);
      const p = makePicker<FakeNode>(kind, { seed });
      p.setNodes(nodes);
      const keys: string[] = [];
      const rng = new Rng(5);
      const inFlight: Call[] = [];
      for (let now = 0; now < 3000; now++) {
        const call = startCall(p, now, 1 + rng.int(40))!;
        keys.push(call.node.key);
        inFlight.push(call);
        for (let i = inFlight.length - 1; i >= 0; i--) if (inFlight[i]!.end <= now) finishCall(p, inFlight.splice(i, 1)[0]!, now);
      }
      return keys;
    };
    assert.deepEqual(run(1), run(1));
    if (kind !== 'heap' && kind !== 'round-robin') assert.notDeepEqual(run(1), run(2));
  });
}

for (const kind of LEAST_LOADED) {
  test(`${kind}: a node whose calls take 10× longer gets under a third of a fair share`, () => {
    const nodes = makeNodes(10);
    const slow = nodes[4]!;
    const { counts } = simulate(make(kind, nodes), { duration: 20_000, concurrency: 20, latency: (n) => (n === slow ? 100 : 10) });
    const fair = total(counts) / nodes.length;
    assert.ok(count(counts, slow.key) < fair / 3, `slow node ${count(counts, slow.key)} calls, fair share ${fair.toFixed(0)}`);
  });
}

test('control: round-robin gives the slow node its full share, so the simulation does discriminate', () => {
  const nodes = makeNodes(10);
  const slow = nodes[4]!;
  const { counts } = simulate(make('round-robin', nodes), { duration: 20_000, concurrency: 20, latency: (n) => (n === slow ? 100 : 10) });
  const fair = total(counts) / nodes.length;
  assert.ok(count(counts, slow.key) > 0.5 * fair, `${count(counts, slow.key)} vs fair ${fair}`);
});

test('makePicker: every kind, with its name', () => {
  for (const kind of ALL) assert.equal(makePicker(kind).name, kind);
});

test('makePicker: bad options are InvalidArgumentErrors that say what is wrong', () => {
  const bad: [Kind, Record<string, unknown>, RegExp][] = [
    ['p2c', { maxEffort: 0 }, /maxEffort must be an integer ≥ 1, got 0/],
    ['p2c', { maxEffort: 2.5 }, /maxEffort/],
    ['p2c', { seed: 1.5 }, /seed must be an integer/],
    ['p2c-ewma', { decayTime: 0 }, /decayTime must be a positive number/],
    ['p2c-ewma', { decayTime: Infinity }, /decayTime/],
    ['aperture', { minSize: 0 }, /minSize must be an integer ≥ 1/],
    ['aperture', { lowLoad: -1 }, /lowLoad must be ≥ 0/],
    ['aperture', { lowLoad: 3 }, /highLoad must be a number above lowLoad \(3\), got 2/],
    ['aperture', { highLoad: 0.5 }, /highLoad must be a number above lowLoad/],
    ['aperture', { smoothWindow: -5 }, /smoothWindow/],
    ['aperture', { jitter: Number.NaN }, /jitter must be a number/],
    ['aperture', { jitter: '10' }, /jitter must be a number, got 10/],
    ['heap', { decayTime: 5000 }, /option 'decayTime' does not apply to heap/],
    ['p2c', { minSize: 2 }, /does not apply to p2c \(it takes seed, maxEffort\)/],
    ['p2c', { maxEfort: 3 }, /unknown option 'maxEfort'/],
  ];
  for (const [kind, options, message] of bad) {
    assert.throws(
      () => makePicker(kind, options as PickerOptions),
      (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message),
      `${kind} ${JSON.stringify(options)}`,
    );
  }
  assert.throws(
    () => makePicker('least-loaded' as Kind),
    (e: unknown) => e instanceof InvalidArgumentError && /unknown kind 'least-loaded'/.test(e.message),
  );
  // Valid edge values pass, and undefined values are as good as absent.
  makePicker('aperture', { minSize: 1, lowLoad: 0, highLoad: 0.1, smoothWindow: 0, jitter: 0, maxEffort: 1, seed: -3 });
  makePicker('heap', { decayTime: undefined });
});

test('describePicker: one line with the effective defaults', () => {
  assert.equal(describePicker('p2c', {}), 'p2c (power of two choices, least loaded; maxEffort 5)');
  assert.match(describePicker('p2c-ewma', {}), /decayTime 10000 ms, maxEffort 5/);
  assert.match(describePicker('p2c-ewma', { decayTime: 2000, seed: 9 }), /decayTime 2000 ms, maxEffort 5, seed 9/);
  assert.match(describePicker('aperture', {}), /≥ 1 node\(s\), load band \[0.5, 2\] smoothed over 5000 ms, slides every 120000–240000 ms, sessions outside it closed after 50000 ms idle; maxEffort 5/);
  assert.match(describePicker('aperture', { smoothWindow: 100 }), /closed after 1000 ms idle/);
  assert.throws(() => describePicker('aperture', { idleTime: -1 }), /idleTime must be ≥ 0 ms/);
  assert.throws(() => describePicker('p2c', { idleTime: 10 }), /does not apply to p2c/);
  assert.match(describePicker('aperture', { jitter: 0, minSize: 3 }), /≥ 3 node\(s\).*no rotation/);
  assert.match(describePicker('heap', {}), /^heap \(least loaded/);
  assert.match(describePicker('round-robin', {}), /^round-robin/);
  for (const line of ALL.map((k) => describePicker(k, {}))) assert.ok(!line.includes('\n'));
  assert.throws(() => describePicker('p2c', { decayTime: 1 }), InvalidArgumentError);
});
