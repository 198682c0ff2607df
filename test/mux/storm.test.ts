// Timeout storm on ONE Mux session: 100,000 calls, about 30 % of them timed out or aborted at a
// random moment (before they are written, while the server runs them, as the reply arrives).
// Every reply that reaches a caller must be its own (zero misrouted), the session must never
// close (zero reconnects), and afterwards no tag is held, abandoned or not, no handler runs and no
// timer is left. MUX_STORM_CALLS=1000000 runs the million (100 s here at load 11: not in the suite).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, TimeoutError } from '../../src/core/errors.js';
import { CallContext, type Service } from '../../src/core/service.js';
import type { MultiplexedSession } from '../../src/session/multiplexed.js';
import type { MuxReply, MuxRequest } from '../../src/protocols/mux/request.js';
import { thriftMuxParts } from '../../src/protocols/thriftmux/client.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import type { ThriftCall } from '../../src/protocols/thrift/messages.js';
import { EchoService, type EchoHandler, type EchoReply } from '../fixtures/echo-service.js';

const TOTAL = Number(process.env['MUX_STORM_CALLS'] ?? 100_000);
const WINDOW = 1000;

test(`timeout storm: ${TOTAL} calls on one session, ~30 % given up at random`, { timeout: 300_000 }, async () => {
  let handlerAborts = 0;
  let running = 0;
  const handler: EchoHandler = {
    echo(id, delayMs, payload, ctx) {
      if (delayMs === 0) return { id, payload };
      running++;
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          running--;
          resolve({ id, payload });
        }, delayMs);
        ctx.signal.addEventListener('abort', () => {
          handlerAborts++;
          running--;
          clearTimeout(t);
          resolve({ id: -1n, payload: 'discarded: must never reach anyone' });
        });
      });
    },
  };
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const server = await ThriftMux.serve(EchoService, handler, { onError: false });
  const parts = thriftMuxParts({});
  const session = (await parts.connect({ host: '127.0.0.1', port: server.port }, 5000)) as unknown as MultiplexedSession<MuxRequest, MuxReply>;
  const service = parts.serializer!.make(session, {}) as Service<ThriftCall, unknown>;
  const method = EchoService.methods['echo']!;
  const timersBefore = timers();

  let ok = 0;
  let misrouted = 0;
  let givenUp = 0;
  let otherErrors = 0;
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < TOTAL) {
      const i = next++;
      const id = BigInt(i);
      const roll = Math.random();
      // 0: answered at once; 1-3 ms: the server holds it (Tdiscarded finds it running).
      const delayMs = Math.random() < 0.5 ? 0 : 1 + Math.floor(Math.random() * 3);
      const ctx = new CallContext('echo', undefined, undefined);
      if (roll < 0.3) {
        const reason = Math.random() < 0.5 ? new TimeoutError('storm timeout') : new CancelledError('storm abort');
        const when = Math.random();
        if (when < 0.2) queueMicrotask(() => ctx.cancel(reason));
        else setTimeout(() => ctx.cancel(reason), Math.floor(when * 4));
      }
      try {
        const r = (await service.call({ method, args: { id, delayMs, payload: `p${i}` } }, ctx)) as EchoReply;
        if (r.id === id && r.payload === `p${i}`) ok++;
        else misrouted++;
      } catch (err) {
        if (err instanceof TimeoutError || err instanceof CancelledError) givenUp++;
        else {
          otherErrors++;
          if (otherErrors < 5) console.error(err);
        }
      }
    }
  };
  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: WINDOW }, one));
    await session.whenIdle();
  } finally {
    console.log(`storm: ${ok} answered, ${givenUp} given up, ${misrouted} misrouted, ${otherErrors} other errors, ${handlerAborts} handler aborts in ${Date.now() - started} ms`);
  }

  assert.equal(misrouted, 0, 'no caller got another call’s reply');
  assert.equal(otherErrors, 0, 'no call failed for any other reason');
  assert.equal(ok + givenUp, TOTAL);
  assert.ok(givenUp > TOTAL * 0.15, `a good share was given up (${givenUp})`);
  assert.equal(session.status, 'open', 'the session never closed');
  assert.equal(server.connections, 1, 'zero reconnects');
  assert.equal(session.load, 0, 'no call holds a tag');
  assert.equal(session.abandoned, 0, 'no abandoned tag is held: every Tdiscarded was answered');
  const discarded = server.stats.snapshot().scopes['server=Echo']!.gauges['mux_discarded'] as number;
  assert.ok(discarded > 0, 'some Tdiscarded found their call running');
  assert.equal(handlerAborts, discarded, 'every discarded running call’s handler saw the abort');
  // Handlers all finished (answered or aborted); the test's own cancel timers ran long ago; the
  // session's and server's own timers (pings, deadline list) are what was there before the storm.
  for (let i = 0; i < 100 && (running > 0 || timers() > timersBefore); i++) await new Promise((r) => setImmediate(r));
  assert.equal(running, 0, 'no handler is still running');
  assert.ok(timers() <= timersBefore, `no timer left behind (${timers()} now, ${timersBefore} before the storm)`);
  const gauges = server.stats.snapshot().scopes['server=Echo']!.gauges;
  assert.equal(gauges['in_flight'], 0, 'the server holds no call');
  console.log(`storm: server gauges ${JSON.stringify(gauges)}, timers ${timersBefore} → ${timers()}`);
  // The session still works, and with nothing in flight the next call gets the smallest tag again.
  const last = (await service.call({ method, args: { id: 7n, delayMs: 0, payload: 'last' } }, new CallContext('echo', undefined, undefined))) as EchoReply;
  assert.deepEqual(last, { id: 7n, payload: 'last' });
  console.log(`storm: ${ok} answered, ${givenUp} given up, ${discarded} discarded on the server`);
  await session.close();
  await server.close();
});
