import type { BalancerNode, Picker } from './types.js';

/**
 * Added to the key of a node found not open, so it sinks below every open one (Python Scales'
 * HeapBalancerSink adds `Penalty = Int.MaxValue`). Busy nodes get one penalty, closed ones two:
 * in panic mode the least-loaded busy node is on top, and a closed one only when all are closed.
 */
const PENALTY = 2 ** 40;

/** Penalty levels: 0 = taken as open, 1 = seen busy, 2 = seen closed. */
type Level = 0 | 1 | 2;

interface Entry<N> {
  readonly node: N;
  /** node.load (as of the last update) + level × PENALTY: what the heap orders by. */
  key: number;
  /** When the entry was last updated: among equal keys the least recently used goes first. */
  seq: number;
  /** Index in the heap; -1 once the node was removed. */
  pos: number;
  level: Level;
  /** Index in the down list while level > 0. */
  downPos: number;
}

function levelOf(node: BalancerNode): Level {
  const s = node.status;
  return s === 'open' ? 0 : s === 'busy' ? 1 : 2;
}

/**
 * Least loaded first (Python Scales' HeapBalancerSink, after Finagle's HeapBalancer): a binary
 * min-heap of the nodes by calls in flight. pick() reads the top in O(1); started/finished move
 * the node in O(log n).
 *
 * Ties go to the least recently used node (a sequence number in the key), so equal nodes take
 * turns; Scales gets the same effect by moving a node that returns to zero load to a random slot.
 *
 * Status changes come without notice, so as in Scales a node found not open on top gets a
 * penalty (it sinks) and joins a down list. Unlike Scales, which rescans the whole down list on
 * every pick, each pick re-checks one down node (round robin), so the cost stays O(log n) however
 * many nodes are down; a node that came back is found within (down nodes) picks. When every node
 * is penalized (panic), the whole down list is rescanned before settling for a busy node or
 * answering undefined: O(n) per pick then, as a scan is the only way to be sure none is open.
 */
export class HeapPicker<N extends BalancerNode> implements Picker<N> {
  readonly name = 'heap';
  private heap: Entry<N>[] = [];
  private down: Entry<N>[] = [];
  private readonly entries = new WeakMap<N, Entry<N>>();
  private seq = 0;
  private probe = 0;

  setNodes(nodes: readonly N[]): void {
    for (const e of this.heap) e.pos = -1;
    const heap: Entry<N>[] = [];
    this.down = [];
    for (const node of nodes) {
      let e = this.entries.get(node);
      if (e === undefined) {
        e = { node, key: 0, seq: 0, pos: -1, level: 0, downPos: -1 };
        this.entries.set(node, e);
      }
      if (e.pos >= 0) continue; // listed twice
      e.pos = heap.length;
      e.key = node.load + e.level * PENALTY;
      if (e.level > 0) {
        e.downPos = this.down.length;
        this.down.push(e);
      }
      heap.push(e);
    }
    this.heap = heap;
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  pick(_now?: number): N | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    if (this.down.length > 0) this.probeDown();
    let rescanned = false;
    for (;;) {
      const top = heap[0]!;
      const level = levelOf(top.node);
      if (level === 0) {
        if (top.level !== 0) this.setLevel(top, 0); // came back; its key only drops, it stays on top
        return top.node;
      }
      if (top.level === 0 || top.level !== level) {
        this.setLevel(top, level);
        continue;
      }
      // The top is penalized and still not open, so every node is penalized: panic mode. One
      // of them may have come back unnoticed; only a rescan can tell.
      if (!rescanned) {
        rescanned = true;
        if (this.rescanDown()) continue;
      }
      return level === 1 ? top.node : undefined;
    }
  }

  started(node: N): void {
    this.update(node);
  }

  finished(node: N): void {
    this.update(node);
  }

  /** For tests: a description of the first broken heap or index invariant, or undefined. */
  invariantViolation(): string | undefined {
    const heap = this.heap;
    for (let i = 0; i < heap.length; i++) {
      const e = heap[i]!;
      if (e.pos !== i) return `entry ${e.node.key} at ${i} records position ${e.pos}`;
      if (e.key !== e.node.load + e.level * PENALTY) return `entry ${e.node.key} has a stale key`;
      if (i > 0 && this.less(e, heap[(i - 1) >> 1]!)) return `entry ${e.node.key} at ${i} is below its parent`;
      if (e.level > 0 !== (this.down[e.downPos] === e)) return `entry ${e.node.key} is misfiled in the down list`;
    }
    for (const e of this.down) if (e.level === 0 || e.pos < 0) return `down list holds ${e.node.key} (level ${e.level}, pos ${e.pos})`;
    return undefined;
  }

  private update(node: N): void {
    const e = this.entries.get(node);
    if (e === undefined || e.pos < 0) return; // removed: draining calls no longer matter here
    e.key = node.load + e.level * PENALTY;
    e.seq = ++this.seq;
    this.fix(e.pos);
  }

  /** Re-check one down node per pick, round robin. */
  private probeDown(): void {
    const down = this.down;
    if (this.probe >= down.length) this.probe = 0;
    const e = down[this.probe++]!;
    const level = levelOf(e.node);
    if (level !== e.level) this.setLevel(e, level);
  }

  /** Re-level every down node from its current status; true when any changed. */
  private rescanDown(): boolean {
    let changed = false;
    const down = this.down;
    for (let i = down.length - 1; i >= 0; i--) {
      const e = down[i]!;
      const level = levelOf(e.node);
      if (level !== e.level) {
        this.setLevel(e, level);
        changed = true;
      }
    }
    return changed;
  }

  private setLevel(e: Entry<N>, level: Level): void {
    if (e.level === 0 && level > 0) {
      e.downPos = this.down.length;
      this.down.push(e);
    } else if (e.level > 0 && level === 0) {
      const last = this.down.pop()!;
      if (last !== e) {
        this.down[e.downPos] = last;
        last.downPos = e.downPos;
      }
      e.downPos = -1;
    }
    e.level = level;
    e.key = e.node.load + level * PENALTY;
    this.fix(e.pos);
  }

  private less(a: Entry<N>, b: Entry<N>): boolean {
    return a.key < b.key || (a.key === b.key && a.seq < b.seq);
  }

  private fix(i: number): void {
    if (this.siftUp(i) === i) this.siftDown(i);
  }

  private siftUp(i: number): number {
    const heap = this.heap;
    const e = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!this.less(e, parent)) break;
      heap[i] = parent;
      parent.pos = i;
      i = p;
    }
    heap[i] = e;
    e.pos = i;
    return i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(heap[c + 1]!, heap[c]!)) c++;
      const child = heap[c]!;
      if (!this.less(child, e)) break;
      heap[i] = child;
      child.pos = i;
      i = c;
    }
    heap[i] = e;
    e.pos = i;
  }
}
