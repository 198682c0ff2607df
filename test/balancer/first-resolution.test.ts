// Calls made before a discovered set's first answer wait for it (bounded) instead of failing
// with "no node". The set here is a test double whose first answer the test controls (pure
// logic); test/discovery/zk-first-call.test.ts proves the same against a real ZooKeeper.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import type { Endpoint } from '../../src/discovery/endpoint.js';
import type { ServerSet } from '../../src/discovery/serverset.js';
import { type EchoClient, EchoService } from '../fixtures/echo-service.js';

/** A set that is empty until `answer()`; `ready()` resolves then. */
class LateSet implements ServerSet {
  addresses: readonly Endpoint[] = [];
  private readonly listeners = new Set<(a: readonly Endpoint[]) => void>();
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  private readonly first = new Promise<void>((res, rej) => {
    this.resolveReady = res;
    this.rejectReady = rej;
  });
  subscribe(l: (a: readonly Endpoint[]) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  ready(): Promise<void> {
    return this.first;
  }
  answer(addresses: readonly Endpoint[]): void {
    this.addresses = addresses;
    for (const l of this.listeners) l(addresses);
    this.resolveReady();
  }
  fail(err: Error): void {
    this.rejectReady(err);
  }
  close(): void {}
}

async function echoServer(): Promise<ThriftServer> {
  return Thrift.serve(EchoService, { echo: (id) => ({ id, payload: 'ok' }) }, { onError: false });
}

function client(set: ServerSet, build = Thrift.newBuilder(EchoService)): EchoClient & ClientControl {
  return build.build(set) as unknown as EchoClient & ClientControl;
}

describe('calls before the first discovery answer', () => {
  test('wait for it and then succeed', async () => {
    const server = await echoServer();
    const set = new LateSet();
    const c = client(set);
    try {
      const calls = Array.from({ length: 50 }, (_, i) => c.echo(BigInt(i), 0, 'x'));
      await new Promise((r) => setTimeout(r, 50));
      set.answer([{ host: '127.0.0.1', port: server.port }]);
      const replies = await Promise.all(calls);
      assert.deepEqual(
        replies.map((r) => r.id),
        Array.from({ length: 50 }, (_, i) => BigInt(i)),
      );
    } finally {
      await c.$close();
      await server.close();
    }
  });

  test('an answer with no member fails the held calls with NoNodesError', async () => {
    const set = new LateSet();
    const c = client(set);
    try {
      const call = c.echo(1n, 0, 'x');
      set.answer([]);
      await assert.rejects(call, { code: 'SCALES_ERR_NO_NODES' });
    } finally {
      await c.$close();
    }
  });

  test('each held call still leaves at its own deadline, and by abort', async () => {
    const set = new LateSet();
    const c = client(set, Thrift.newBuilder(EchoService).withTimeout(100));
    try {
      const started = Date.now();
      await assert.rejects(c.echo(1n, 0, 'x'), { code: 'SCALES_ERR_TIMEOUT' });
      assert.ok(Date.now() - started < 5000);
      const ac = new AbortController();
      const aborted = c.echo(2n, 0, 'x', { signal: ac.signal, timeout: 60_000 });
      ac.abort();
      await assert.rejects(aborted, (e: Error & { code?: string }) => e.code !== 'SCALES_ERR_NO_NODES');
    } finally {
      await c.$close();
    }
  });

  test('the wait is bounded: past waitMs calls fail with a NoNodesError that says why', async () => {
    const set = new LateSet();
    const c = client(set, Thrift.newBuilder(EchoService).withDiscoveryWait({ waitMs: 100 }));
    try {
      await assert.rejects(c.echo(1n, 0, 'x'), (e: Error & { code?: string }) => e.code === 'SCALES_ERR_NO_NODES' && /no first answer within 100 ms/.test(e.message));
      // After the window: refused at once, with the same reason...
      await assert.rejects(c.echo(2n, 0, 'x'), (e: Error & { code?: string }) => e.code === 'SCALES_ERR_NO_NODES' && /no first answer/.test(e.message));
      // ...until the set answers after all: then the set speaks for itself.
      set.answer([]);
      await new Promise((r) => setImmediate(r));
      await assert.rejects(c.echo(3n, 0, 'x'), (e: Error & { code?: string }) => e.code === 'SCALES_ERR_NO_NODES' && !/no first answer/.test(e.message));
    } finally {
      await c.$close();
    }
  });

  test('at most maxHeld calls wait; more are refused as overload', async () => {
    const set = new LateSet();
    const c = client(set, Thrift.newBuilder(EchoService).withDiscoveryWait({ maxHeld: 3 }).withRetries(false));
    try {
      const held = [c.echo(1n, 0, 'x'), c.echo(2n, 0, 'x'), c.echo(3n, 0, 'x')];
      await assert.rejects(c.echo(4n, 0, 'x'), { code: 'SCALES_ERR_OVERLOADED' });
      set.answer([]);
      for (const h of held) await assert.rejects(h, { code: 'SCALES_ERR_NO_NODES' });
    } finally {
      await c.$close();
    }
  });

  test('a set that fails before answering fails the held calls with its reason; close fails them too', async () => {
    const set = new LateSet();
    const c = client(set);
    const call = c.echo(1n, 0, 'x');
    set.fail(new Error('ensemble unreachable'));
    await assert.rejects(call, (e: Error & { code?: string }) => e.code === 'SCALES_ERR_NO_NODES' && /ensemble unreachable/.test(e.message));
    await c.$close();

    const set2 = new LateSet();
    const c2 = client(set2);
    const call2 = c2.echo(1n, 0, 'x');
    await c2.$close();
    await assert.rejects(call2, { code: 'SCALES_ERR_CLOSED' });
  });

  test('a set without ready() (static) still refuses at once when empty', async () => {
    const c = client({ addresses: [], subscribe: () => () => {}, close: () => {} });
    try {
      await assert.rejects(c.echo(1n, 0, 'x'), { code: 'SCALES_ERR_NO_NODES' });
    } finally {
      await c.$close();
    }
  });
});
