// THeader against Apache's Python library (THeaderProtocol / THeaderTransport 0.17), both ways:
// its THeader client (every check of py_rich_client.py, info headers on every call) against our
// server, on either of our transports; our `transport: 'header'` client (rich-checks.ts) against
// its THeaderProtocolFactory server, whose handler echoes the info headers it received.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClientControl, receivedValue, Thrift, ThriftHeaders, type ThriftServer, withContextValue } from '../../src/protocols/thrift/index.js';
import type { ServerCallContext } from '../../src/protocols/thrift/index.js';
import { richChecks } from '../fixtures/rich-checks.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';
import { describeRun, runPyClient, startPyServer, type PeerServer } from '../harness/peers.js';

const protocols = ['binary', 'compact'] as const;
const serverTransports = ['framed', 'buffered'] as const;

/** The rich handler, recording what each `ping` received: its info headers and time left. */
function recordingHandler(seen: { headers?: Record<string, string>; leftMs?: number }[]) {
  const h = makeRichHandler();
  return {
    ...h,
    ping: (ctx: ServerCallContext) => {
      const headers = receivedValue(ctx, ThriftHeaders);
      seen.push({ headers: headers === undefined ? undefined : Object.fromEntries(headers), leftMs: ctx.deadline === undefined ? undefined : ctx.deadline - Date.now() });
      return 'pong';
    },
  };
}

for (const protocol of protocols) {
  for (const transport of serverTransports) {
    describe(`Python THeader client (${protocol} inside) -> Scales server (${transport})`, () => {
      let server: ThriftServer;
      const seen: { headers?: Record<string, string>; leftMs?: number }[] = [];
      before(async () => {
        // The server's own protocol is the other one: a THeader call is answered in the protocol it names.
        server = await Thrift.serve(RichService, recordingHandler(seen), { protocol: protocol === 'binary' ? 'compact' : 'binary', transport, onError: false });
      });
      after(() => server.close());

      test('every check passes, and the info headers reach the handler', async () => {
        const run = await runPyClient({
          port: server.port,
          protocol,
          transport: 'header',
          extraArgs: ['--header', 'x-trace-id=trace-✓-42', '--header', 'client_timeout=4000'],
        });
        assert.equal(run.failed, 0, describeRun(run));
        assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
        assert.ok(seen.length >= 1, 'ping was served');
        for (const s of seen) {
          assert.deepEqual(s.headers, { 'x-trace-id': 'trace-✓-42' });
          assert.ok(s.leftMs !== undefined && s.leftMs > 0 && s.leftMs <= 4000, `deadline from client_timeout: ${s.leftMs} ms left`);
        }
      });
    });
  }

  describe(`Scales THeader client (${protocol}) -> Python THeaderProtocol server`, () => {
    let server: PeerServer;
    let client: RichClient & ClientControl;
    before(async () => {
      server = await startPyServer({ protocol, transport: 'header', extraArgs: ['--echo-headers'] });
      client = Thrift.newClient(RichService, `tcp://127.0.0.1:${server.port}`, { protocol, transport: 'header', timeout: 10_000 });
    });
    after(async () => {
      await client.$close();
      await server.stop();
    });
    for (const check of richChecks('python')) test(check.name, () => check.run(client));

    test('the call deadline and ThriftHeaders arrive as info headers', async () => {
      const got = await withContextValue(ThriftHeaders, new Map([['x-trace-id', 'abc-✓']]), () => client.echoString!('__headers__', { timeout: 3000 }));
      const headers = JSON.parse(got as string) as Record<string, string>;
      assert.equal(headers['x-trace-id'], 'abc-✓');
      const left = Number(headers['client_timeout']);
      assert.ok(left > 0 && left <= 3000, `client_timeout ${headers['client_timeout']}`);
    });
  });
}

describe('THeader and the multiplexed protocol together', () => {
  test('Python THeader + TMultiplexedProtocol client -> serveMultiplexed: every check passes', async () => {
    const server = await Thrift.serveMultiplexed({ RichService: [RichService, makeRichHandler()] }, { onError: false });
    try {
      const run = await runPyClient({ port: server.port, protocol: 'compact', transport: 'header', extraArgs: ['--multiplexed', 'RichService'] });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
    } finally {
      await server.close();
    }
  });

  test('our THeader client with serviceName -> Python THeader TMultiplexedProcessor', async () => {
    const server = await startPyServer({ transport: 'header', extraArgs: ['--multiplexed', 'RichService'] });
    const client = Thrift.newClient(RichService, `tcp://127.0.0.1:${server.port}`, { transport: 'header', serviceName: 'RichService', timeout: 10_000 });
    try {
      for (const check of richChecks('python').slice(0, 4)) await check.run(client);
    } finally {
      await client.$close();
      await server.stop();
    }
  });
});
