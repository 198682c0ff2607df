import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createContextKey } from '../../src/core/context-key.js';
import type { CancelSource } from '../../src/core/abort-watch.js';
import { newCallContext, runWithContext, withContextValue, type AmbientContext } from '../../src/core/context.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { CallContext } from '../../src/core/service.js';

// Deadlines are kept on the monotonic clock and shown as Date.now() times: allow for the clocks
// being read a few microseconds apart (and rounding).
const near = (got: number | undefined, want: number, what: string): void => assert.ok(got !== undefined && Math.abs(got - want) < 2, `${what}: ${got} vs ${want}`);

test('the earliest of timeout, deadline, default and inherited deadline wins', () => {
  const now = Date.now();
  assert.equal(newCallContext('m', undefined, undefined).deadline, undefined);
  const d1 = newCallContext('m', undefined, 1000).deadline!;
  assert.ok(d1 >= now + 999 && d1 < now + 1100);
  near(newCallContext('m', { timeout: 50, deadline: now + 10 }, 1000).deadline, now + 10, 'per-call deadline before the timeout');
  // A timeout counts from when the context is made, which a loaded machine may delay past `now`.
  const before = Date.now();
  const byTimeout = newCallContext('m', { timeout: 20, deadline: now + 500 }, 1000).deadline!;
  const after = Date.now();
  assert.ok(byTimeout >= before + 19 && byTimeout <= after + 21, `per-call timeout before the deadline: ${byTimeout - before} ms after the call began`);
  const inherited = runWithContext({ deadline: now + 5, signal: undefined }, () => newCallContext('m', { timeout: 1000 }, undefined));
  near(inherited.deadline, now + 5, 'a nested call cannot outlive its parent request');
});

test('a context counts down on the monotonic clock; a child shares its deadline and signal', async () => {
  const ctx = CallContext.expiring('m', 80, undefined, undefined);
  assert.equal(ctx.expiresAt, ctx.start + 80);
  assert.ok(ctx.remaining() > 70 && ctx.remaining() <= 80);
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(ctx.remaining() > 0 && ctx.remaining() <= 51, `remaining ${ctx.remaining()}`);
  const child = ctx.child();
  assert.equal(child.expiresAt, ctx.expiresAt);
  assert.notEqual(child, ctx);
  assert.equal(new CallContext('m', undefined, undefined).remaining(), Infinity);
  const abs = new CallContext('m', Date.now() + 100, undefined);
  assert.ok(abs.remaining() > 95 && abs.remaining() <= 100);
});

test('signals combine with the inherited one', () => {
  const parent = new AbortController();
  const own = new AbortController();
  const ctx = runWithContext({ deadline: undefined, signal: parent.signal }, () => newCallContext('m', { signal: own.signal }, undefined));
  assert.equal(ctx.signal!.aborted, false);
  parent.abort();
  assert.equal(ctx.signal!.aborted, true);
});

test('a served request is followed as a CancelSource: no signal made, withContextValue passes it on', () => {
  let signalRead = 0;
  const source: CancelSource & AmbientContext = {
    deadline: undefined,
    get signal(): AbortSignal | undefined {
      signalRead++;
      return undefined;
    },
    get cancellation() {
      return source;
    },
    cancelReason: undefined,
    watchCancel: () => {},
    unwatchCancel: () => {},
  };
  const own = new AbortController();
  const ctx = runWithContext(source, () => newCallContext('m', { signal: own.signal }, undefined));
  assert.equal(ctx.parent, source);
  assert.equal(ctx.signal, own.signal, 'the call keeps its own signal, not a combined one');
  assert.equal(ctx.child().parent, source, 'a hedged attempt follows it too');
  const nested = runWithContext(source, () => withContextValue(createContextKey<string>('test.k', ''), 'v', () => newCallContext('m', undefined, undefined)));
  assert.equal(nested.parent, source);
  assert.equal(signalRead, 0, "nobody read the request's signal");
});

test('bad options are typed errors', () => {
  assert.throws(() => newCallContext('m', { timeout: -1 }, undefined), InvalidArgumentError);
  assert.throws(() => newCallContext('m', { timeout: Number.NaN }, undefined), InvalidArgumentError);
  assert.throws(() => newCallContext('m', { deadline: Number.NaN }, undefined), InvalidArgumentError);
});

test('typed context values: defaults, set/get, inherited by calls made inside withContextValue, copied to hedged attempts', () => {
  const Tenant = createContextKey<string>('test.tenant', 'none');
  const Retries = createContextKey<number>('test.retries', 0, { name: 'test.Retries', encode: (n) => Buffer.from([n]), decode: (b) => b[0]! });
  const plain = newCallContext('m', undefined, undefined);
  assert.equal(plain.get(Tenant), 'none');
  assert.equal(plain.values, undefined, 'no values: nothing allocated');
  plain.set(Tenant, 'acme');
  assert.equal(plain.get(Tenant), 'acme');
  const inner = withContextValue(Tenant, 'acme', () => withContextValue(Retries, 2, () => newCallContext('n', undefined, undefined)));
  assert.equal(inner.get(Tenant), 'acme');
  assert.equal(inner.get(Retries), 2);
  assert.deepEqual([...inner.values!.entries()].map(([k]) => k.name).sort(), ['test.retries', 'test.tenant']);
  const child = inner.child();
  child.set(Retries, 3);
  assert.equal(child.get(Tenant), 'acme', 'a hedged attempt carries the call values');
  assert.equal(inner.get(Retries), 2, 'its own copy');
  assert.equal(newCallContext('after', undefined, undefined).get(Tenant), 'none', 'only inside');
});

test('a signal option that is not an AbortSignal is a typed error before the call enters the stack', () => {
  for (const bad of [{}, 'x', 42, { aborted: false, addEventListener() {} }]) {
    assert.throws(
      () => newCallContext('m', { signal: bad as unknown as AbortSignal }, undefined),
      (e: unknown) => e instanceof InvalidArgumentError && /signal must be an AbortSignal/.test(e.message),
    );
  }
  assert.ok(newCallContext('m', { signal: new AbortController().signal }, undefined).signal instanceof AbortSignal);
});
