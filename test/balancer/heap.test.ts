import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeapPicker } from '../../src/balancer/heap.js';
import { Rng } from '../../src/balancer/random.js';
import { type FakeNode, finishCall, makeNodes, sequential, startCall, type Call } from './fake-nodes.js';

function minOpenLoad(nodes: readonly FakeNode[]): number {
  return Math.min(...nodes.filter((n) => n.status === 'open').map((n) => n.load));
}

test('heap: with every node open, pick is exactly the least loaded', () => {
  const nodes = makeNodes(50);
  const p = new HeapPicker<FakeNode>();
  p.setNodes(nodes);
  const rng = new Rng(1);
  const inFlight: Call[] = [];
  for (let i = 0; i < 20_000; i++) {
    if (inFlight.length > 0 && rng.float() < 0.45) finishCall(p, inFlight.splice(rng.int(inFlight.length), 1)[0]!, i);
    else {
      const want = minOpenLoad(nodes);
      const call = startCall(p, i)!;
      assert.equal(call.node.load - 1, want, `picked load ${call.node.load - 1}, least is ${want}`);
      inFlight.push(call);
    }
  }
});

test('heap: ties go round: sequential calls over equal nodes take strict turns', () => {
  const nodes = makeNodes(7);
  const p = new HeapPicker<FakeNode>();
  p.setNodes(nodes);
  const counts = sequential(p, 700);
  for (const n of nodes) assert.equal(counts.get(n.key), 100);
});

test('heap: positions and keys stay valid through random picks, calls, status flips and membership changes', () => {
  const rng = new Rng(99);
  let live = makeNodes(40, 'a');
  const p = new HeapPicker<FakeNode>();
  p.setNodes(live);
  const inFlight: Call[] = [];
  let serial = 0;
  for (let op = 0; op < 30_000; op++) {
    const r = rng.float();
    if (r < 0.4) {
      const call = startCall(p, op);
      if (call !== undefined) inFlight.push(call);
    } else if (r < 0.75) {
      if (inFlight.length > 0) finishCall(p, inFlight.splice(rng.int(inFlight.length), 1)[0]!, op);
    } else if (r < 0.97) {
      const n = live[rng.int(live.length)];
      if (n !== undefined) n.status = (['open', 'open', 'busy', 'closed'] as const)[rng.int(4)]!;
    } else {
      live = live.filter(() => rng.float() < 0.9).concat(makeNodes(rng.int(5), `b${serial++}-`));
      p.setNodes(live);
    }
    const broken = p.invariantViolation();
    assert.equal(broken, undefined, `after op ${op}: ${broken}`);
  }
});

test('heap: a penalized node that comes back is found while others are open', () => {
  const nodes = makeNodes(10);
  const p = new HeapPicker<FakeNode>();
  p.setNodes(nodes);
  for (const n of nodes.slice(0, 6)) n.status = 'busy';
  sequential(p, 100); // sinks the six busy nodes into the down list
  assert.equal(p.invariantViolation(), undefined);
  nodes[2]!.status = 'open';
  // One down node is probed per pick, so it is back within six picks, then gets its turn.
  const counts = sequential(p, 60, 1, 1000);
  assert.ok((counts.get(nodes[2]!.key) ?? 0) >= 5, `came back with ${counts.get(nodes[2]!.key) ?? 0} picks`);
});

test('heap: the least-loaded busy node serves in panic mode; an open one wins the moment it exists', () => {
  const nodes = makeNodes(4);
  const p = new HeapPicker<FakeNode>();
  p.setNodes(nodes);
  const held = [startCall(p, 0)!, startCall(p, 0)!, startCall(p, 0)!]; // loads 1,1,1,0
  const idle = nodes.find((n) => n.load === 0)!;
  for (const n of nodes) n.status = 'busy';
  assert.equal(p.pick(1), idle, 'least loaded of the busy ones');
  held[1]!.node.status = 'open';
  assert.equal(p.pick(1), held[1]!.node, 'the open node, found by the panic rescan within the same ms');
  for (const c of held) finishCall(p, c, 2);
  assert.equal(p.invariantViolation(), undefined);
});
