// The server's idle timeout against a ThriftMux client that pings: pings are not requests, so a
// session with no calls is still drained after idleTimeoutMs (an aperture client would otherwise
// keep a pinging session to every node its window ever held); the client reconnects on demand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import { EchoService, echoHandler } from '../fixtures/echo-service.js';
import { sleep } from '../harness/wait.js';

test('a pinging ThriftMux session with no calls is drained after idleTimeoutMs; the next call reconnects', async () => {
  const server = await ThriftMux.serve(EchoService, echoHandler, { idleTimeoutMs: 400, onError: false });
  const counter = (name: string): number => (server.stats.snapshot().scopes['server=Echo']?.counters[name] as number | undefined) ?? 0;
  const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { pingInterval: 50 });
  try {
    assert.deepEqual(await client.echo(1n, 0, 'first'), { id: 1n, payload: 'first' });
    // Calls more often than the timeout keep it open although each one is short.
    for (let i = 0; i < 8; i++) {
      await sleep(100);
      await client.echo(2n, 0, 'busy');
    }
    assert.equal(counter('connections_idle_closed'), 0, 'a session with calls every 100 ms is not idle');
    const end = Date.now() + 5000;
    while (counter('connections_idle_closed') === 0 && Date.now() < end) await sleep(20);
    assert.equal(counter('connections_idle_closed'), 1, 'pings every 50 ms did not hold the idle session open');
    assert.deepEqual(await client.echo(3n, 0, 'again'), { id: 3n, payload: 'again' });
  } finally {
    await client.$close();
    await server.close();
  }
});
