// Apache's multiplexed protocol against Apache's Python library, both ways: its TMultiplexedProtocol
// client (every check of py_rich_client.py) against our Thrift.serveMultiplexed, and our
// withServiceName client (every check of rich-checks.ts) against its TMultiplexedProcessor.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClientControl, TApplicationExceptionType, Thrift, ThriftApplicationError, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';
import { richChecks } from '../fixtures/rich-checks.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';
import { describeRun, runPyClient, startPyServer, type PeerServer } from '../harness/peers.js';

const combos = [
  ['binary', 'framed'],
  ['compact', 'framed'],
  ['binary', 'buffered'],
  ['compact', 'buffered'],
] as const;

const echoHandler = { echo: (id: bigint, _d: number, payload: string) => ({ id, payload }) };

for (const [protocol, transport] of combos) {
  describe(`Python TMultiplexedProtocol client -> Scales serveMultiplexed (${protocol}/${transport})`, () => {
    let server: ThriftServer;
    before(async () => {
      server = await Thrift.serveMultiplexed({ Echo: [EchoService, echoHandler], RichService: [RichService, makeRichHandler()] }, { protocol, transport, onError: false });
    });
    after(() => server.close());

    test('every check passes with RichService: prefixed names', async () => {
      const run = await runPyClient({ port: server.port, protocol, transport, extraArgs: ['--multiplexed', 'RichService'] });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
    });

    test('a service the server does not have fails every check (the prefix is really read)', async () => {
      const run = await runPyClient({ port: server.port, protocol, transport, extraArgs: ['--multiplexed', 'Nope', '--only', 'ping'] });
      assert.equal(run.passed, 0, describeRun(run));
      assert.ok(run.failed >= 1);
      // answered at once (not a timeout), as an exception named after the full call name, as Apache C++ does
      assert.match(JSON.stringify(run.failures), /reply name 'Nope:ping'/);
    });
  });

  describe(`Scales withServiceName client -> Python TMultiplexedProcessor (${protocol}/${transport})`, () => {
    let server: PeerServer;
    let client: RichClient & ClientControl;
    before(async () => {
      server = await startPyServer({ protocol, transport, extraArgs: ['--multiplexed', 'RichService'] });
      client = Thrift.newBuilder(RichService).withServiceName('RichService').withProtocol(protocol).withTransport(transport).withTimeout(10_000).build(`tcp://127.0.0.1:${server.port}`);
    });
    after(async () => {
      await client.$close();
      await server.stop();
    });
    for (const check of richChecks('python')) test(check.name, () => check.run(client));
  });
}

describe('default service (registerDefault), binary/framed', () => {
  test('a plain Python client against our server with defaultService passes every check', async () => {
    const server = await Thrift.serveMultiplexed({ Echo: [EchoService, echoHandler], RichService: [RichService, makeRichHandler()] }, { defaultService: 'RichService', onError: false });
    try {
      const run = await runPyClient({ port: server.port });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
    } finally {
      await server.close();
    }
  });

  test('without defaultService the same plain client is refused with a PROTOCOL_ERROR', async () => {
    const server = await Thrift.serveMultiplexed({ RichService: [RichService, makeRichHandler()] }, { onError: false });
    try {
      const run = await runPyClient({ port: server.port, extraArgs: ['--only', 'ping'] });
      assert.equal(run.passed, 0, describeRun(run));
      assert.match(JSON.stringify(run.failures), /TMultiplexedProtocol/);
    } finally {
      await server.close();
    }
  });

  test('our plain client against a Python TMultiplexedProcessor with registerDefault', async () => {
    const server = await startPyServer({ extraArgs: ['--multiplexed', 'RichService', '--default'] });
    const client = Thrift.newClient(RichService, `tcp://127.0.0.1:${server.port}`, { timeout: 10_000 });
    try {
      assert.equal(await client.ping!(), 'pong');
      assert.equal(await client.lookup!('k'), 'value:k');
    } finally {
      await client.$close();
      await server.stop();
    }
  });

  test('our client naming a service Python lacks fails fast (Python closes the connection)', async () => {
    const server = await startPyServer({ extraArgs: ['--multiplexed', 'RichService'] });
    const client = Thrift.newBuilder(RichService).withServiceName('Other').withTimeout(10_000).withRetries(false).build(`tcp://127.0.0.1:${server.port}`);
    try {
      const t0 = performance.now();
      await assert.rejects(client.ping!(), (err: unknown) => !(err instanceof ThriftApplicationError && err.type === TApplicationExceptionType.UNKNOWN));
      assert.ok(performance.now() - t0 < 5000, 'not a timeout');
    } finally {
      await client.$close();
      await server.stop();
    }
  });
});
