// The client proxy's compiled method functions: positional arguments, the trailing CallOptions,
// bad options as a rejected promise, and names that are not valid JS identifiers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { createClientProxy, type ProxyMethod } from '../../src/client/proxy.js';
import type { CallContext, Service } from '../../src/core/service.js';
import { Stack } from '../../src/core/stack.js';
import { StatsRegistry } from '../../src/stats/registry.js';

interface Sent {
  call: unknown[];
  ctx: CallContext;
}

function proxy(methods: ProxyMethod<unknown[]>[], defaultTimeout?: number): { client: Record<string, (...args: unknown[]) => Promise<unknown>>; sent: Sent[] } {
  const sent: Sent[] = [];
  const service: Service<unknown[], unknown> = {
    status: 'open',
    call: (call, ctx) => {
      sent.push({ call, ctx });
      return Promise.resolve(call.length);
    },
    close: () => Promise.resolve(),
  };
  const client = createClientProxy<unknown[], Record<string, (...args: unknown[]) => Promise<unknown>>>(methods, service, new Stack(), defaultTimeout, new StatsRegistry());
  return { client, sent };
}

const collect = (...args: unknown[]): unknown[] => args;

test('positional arguments reach toCall; the one after them is the call options', async () => {
  const { client, sent } = proxy([
    { name: 'none', arity: 0, toCall: collect },
    { name: 'three', arity: 3, toCall: collect },
  ]);
  assert.equal(await client['none']!(), 0);
  assert.equal(await client['three']!(1, 'b', 3n, { timeout: 50 }, 'ignored'), 3);
  assert.deepEqual(sent[1]!.call, [1, 'b', 3n]);
  assert.equal(sent[0]!.ctx.expiresAt, undefined);
  const left = sent[1]!.ctx.remaining();
  assert.ok(left > 40 && left <= 50, `the per-call timeout applies (${left} ms left)`);
  assert.equal(client['three']!.name, 'three');
});

test('missing arguments are undefined; the default timeout applies without options', async () => {
  const { client, sent } = proxy([{ name: 'two', arity: 2, toCall: collect }], 1000);
  await client['two']!('only');
  assert.deepEqual(sent[0]!.call, ['only', undefined]);
  assert.ok(sent[0]!.ctx.remaining() > 900);
});

test('bad options reject the call instead of throwing', async () => {
  const { client, sent } = proxy([{ name: 'one', arity: 1, toCall: collect }]);
  const p = client['one']!(1, { timeout: -5 });
  assert.ok(p instanceof Promise);
  await assert.rejects(p, InvalidArgumentError);
  assert.equal(sent.length, 0);
});

test('method names need not be JS identifiers', async () => {
  const { client } = proxy([
    { name: 'delete', arity: 1, toCall: collect },
    { name: 'get-user', arity: 1, toCall: collect },
  ]);
  assert.equal(await client['delete']!(1), 1);
  assert.equal(await client['get-user']!(1), 1);
});
