import type { BalancerNode, Picker } from './types.js';

/** Rotate over the nodes, skipping any that are not open (panic: any non-closed one). */
export class RoundRobinPicker<N extends BalancerNode> implements Picker<N> {
  readonly name = 'round-robin';
  private nodes: readonly N[] = [];
  private next = 0;

  setNodes(nodes: readonly N[]): void {
    this.nodes = nodes;
  }

  pick(): N | undefined {
    const nodes = this.nodes;
    const n = nodes.length;
    let fallback: N | undefined;
    for (let i = 0; i < n; i++) {
      const node = nodes[this.next++ % n]!;
      const s = node.status;
      if (s === 'open') return node;
      if (s === 'busy' && fallback === undefined) fallback = node;
    }
    return fallback;
  }

  started(): void {}
  finished(): void {}
}
