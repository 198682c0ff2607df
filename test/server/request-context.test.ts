// The request context's bookkeeping (pure logic, a recording owner): one outcome per request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerRequest } from '../../src/server/codec.js';
import { ServerRequestContext, type RequestOwner } from '../../src/server/context.js';

test('a second outcome reaches neither the stats observer nor the session', () => {
  const settled: string[] = [];
  const owner: RequestOwner<ServerRequest> = {
    peer: 'test',
    closed: false,
    watch: () => {},
    settle: (ctx, ok) => {
      if (ctx.settled) return;
      ctx.settled = true;
      settled.push(ok ? 'reply' : 'error');
    },
  };
  const observed: string[] = [];
  const request = { method: 'm', oneway: false, deadline: undefined, values: undefined } as unknown as ServerRequest;
  const ctx = new ServerRequestContext(owner, request, performance.now());
  ctx.observer = { observe: (_start, ok) => void observed.push(ok ? 'reply' : 'error') };
  ctx.onReply('first');
  ctx.onError(new Error('late'));
  ctx.onReply('again');
  assert.deepEqual(settled, ['reply']);
  assert.deepEqual(observed, ['reply']);
});
