// The Balancer itself (membership, draining, retries steering away from a failed node), over
// in-memory node services: pure logic, the real-server behaviour is in test/stack/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/balancer.js';
import { makePicker } from '../../src/balancer/pickers.js';
import { ConnectionClosedError } from '../../src/core/errors.js';
import { CallContext, type Service, type Status } from '../../src/core/service.js';
import { StaticServerSet } from '../../src/discovery/serverset.js';
import type { Address } from '../../src/discovery/uri.js';

/** A node service that answers with its own key, or fails every call when `failing`. */
class KeyedNode implements Service<string, string> {
  calls = 0;
  closed = false;
  constructor(
    readonly key: string,
    readonly failing: boolean,
  ) {}
  get status(): Status {
    return this.closed ? 'closed' : 'open';
  }
  call(): Promise<string> {
    this.calls++;
    return this.failing ? Promise.reject(new ConnectionClosedError(`${this.key} died`)) : Promise.resolve(this.key);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const addr = (port: number): Address => ({ host: '127.0.0.1', port });

for (const kind of ['heap', 'p2c', 'p2c-ewma', 'aperture', 'round-robin'] as const) {
  test(`${kind}: a retry (same call context) goes to another node than the one that just failed it`, async () => {
    const nodes = new Map<string, KeyedNode>();
    const set = new StaticServerSet([addr(1), addr(2), addr(3)]);
    const balancer = new Balancer<string, string>(
      set,
      (_endpoint, key) => {
        const n = new KeyedNode(key, key === '127.0.0.1:1');
        nodes.set(n.key, n);
        return n;
      },
      makePicker(kind, { seed: 7, ...(kind === 'aperture' ? { minSize: 3 } : {}) }),
      'test',
    );
    const dead = nodes.get('127.0.0.1:1')!;
    let steered = 0;
    for (let i = 0; i < 200; i++) {
      const ctx = new CallContext('m', undefined, undefined);
      const first = await balancer.call('x', ctx).catch(() => 'failed');
      if (first !== 'failed') continue;
      // The failed node has the lowest load of all (its calls fail at once): without steering a
      // least-loaded picker would hand it the retry again.
      const retry = await balancer.call('x', ctx).catch(() => 'failed again');
      assert.notEqual(retry, 'failed again', `retry ${i} went back to the dead node`);
      steered++;
    }
    assert.ok(steered > 0 && dead.calls === steered, `${steered} retries steered, dead node saw ${dead.calls} calls`);
    await balancer.close();
  });
}

test('a removed node takes no new calls and is closed once its in-flight calls end', async () => {
  let release: (() => void) | undefined;
  const slow: Service<string, string> & { closed: boolean } = {
    closed: false,
    get status(): Status {
      return 'open';
    },
    call: () => new Promise<string>((r) => (release = () => r('slow'))),
    close() {
      this.closed = true;
      return Promise.resolve();
    },
  };
  const fast = new KeyedNode('127.0.0.1:2', false);
  const set = new StaticServerSet([addr(1)]);
  const balancer = new Balancer<string, string>(set, (_e, key) => (key === '127.0.0.1:1' ? slow : fast), makePicker('p2c', { seed: 1 }), 'test');
  const pending = balancer.call('x', new CallContext('m', undefined, undefined));
  set.update([addr(2)]);
  assert.equal(slow.closed, false, 'not closed while a call is in flight');
  assert.equal(await balancer.call('y', new CallContext('m', undefined, undefined)), '127.0.0.1:2');
  release!();
  assert.equal(await pending, 'slow');
  await new Promise((r) => setImmediate(r));
  assert.equal(slow.closed, true, 'closed after its last call');
  assert.deepEqual(balancer.nodeKeys, ['127.0.0.1:2']);
  await balancer.close();
});
