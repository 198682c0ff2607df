import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newCallContext, runWithContext } from '../../src/core/context.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

test('the earliest of timeout, deadline, default and inherited deadline wins', () => {
  const now = Date.now();
  assert.equal(newCallContext('m', undefined, undefined).deadline, undefined);
  const d1 = newCallContext('m', undefined, 1000).deadline!;
  assert.ok(d1 >= now + 1000 && d1 < now + 1100);
  const d2 = newCallContext('m', { timeout: 50, deadline: now + 10 }, 1000).deadline!;
  assert.equal(d2, now + 10);
  const inherited = runWithContext({ deadline: now + 5, signal: undefined }, () => newCallContext('m', { timeout: 1000 }, undefined));
  assert.equal(inherited.deadline, now + 5, 'a nested call cannot outlive its parent request');
});

test('signals combine with the inherited one', () => {
  const parent = new AbortController();
  const own = new AbortController();
  const ctx = runWithContext({ deadline: undefined, signal: parent.signal }, () => newCallContext('m', { signal: own.signal }, undefined));
  assert.equal(ctx.signal!.aborted, false);
  parent.abort();
  assert.equal(ctx.signal!.aborted, true);
});

test('bad options are typed errors', () => {
  assert.throws(() => newCallContext('m', { timeout: -1 }, undefined), InvalidArgumentError);
  assert.throws(() => newCallContext('m', { timeout: Number.NaN }, undefined), InvalidArgumentError);
  assert.throws(() => newCallContext('m', { deadline: Number.NaN }, undefined), InvalidArgumentError);
});
