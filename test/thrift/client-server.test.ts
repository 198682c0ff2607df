// Our Thrift client against our Thrift server over real loopback TCP: every method of the rich
// IDL in every protocol/transport combination (the same checks the interop tests run against
// Apache peers), then the failure behaviour a caller relies on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ClosedError, ConnectError, ConnectionClosedError, FrameTooLargeError, InvalidArgumentError, TimeoutError } from '../../src/core/errors.js';
import { TApplicationExceptionType, Thrift, ThriftApplicationError, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';
import { richChecks } from '../fixtures/rich-checks.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';

const combos = [
  ['binary', 'framed'],
  ['compact', 'framed'],
  ['binary', 'buffered'],
  ['compact', 'buffered'],
] as const;

for (const [protocol, transport] of combos) {
  describe(`every method round-trips (${protocol}/${transport})`, () => {
    let server: ThriftServer;
    let client: RichClient & ClientControl;
    before(async () => {
      server = await Thrift.serve(RichService, makeRichHandler(), { protocol, transport });
      client = Thrift.newClient(RichService, `tcp://127.0.0.1:${server.port}`, { protocol, transport, timeout: 5000 });
    });
    after(async () => {
      await client.$close();
      await server.close();
    });
    for (const check of richChecks('scales')) test(check.name, () => check.run(client));

    test('-0 and NaN inside structs and maps', async () => {
      const got = (await client.echoAll!({ id: 'z', aDouble: -0, weights: new Map([['n', Number.NaN]]) })) as Record<string, unknown>;
      assert.ok(Object.is(got['aDouble'], -0));
      assert.ok(Number.isNaN((got['weights'] as Map<string, number>).get('n')));
    });
  });
}

describe('failure behaviour', () => {
  let server: ThriftServer;
  let client: RichClient & ClientControl;
  const port = () => server.port;
  before(async () => {
    server = await Thrift.serve(RichService, makeRichHandler());
    client = Thrift.newClient(RichService, `tcp://127.0.0.1:${port()}`);
  });
  after(async () => {
    await client.$close();
    await server.close();
  });

  test('a timeout frees the caller at once and the connection keeps working', async () => {
    const started = Date.now();
    await assert.rejects(client.sleep!(300, 'late', { timeout: 30 }), TimeoutError);
    assert.ok(Date.now() - started < 250, 'freed at the deadline, not at the reply');
    assert.equal(await client.sleep!(1, 'mine'), 'mine', 'the late reply is dropped, not handed over');
  });

  test('a deadline already passed fails without sending', async () => {
    await assert.rejects(client.ping!({ deadline: Date.now() - 1 }), TimeoutError);
  });

  test('AbortSignal cancels a call in flight', async () => {
    const ac = new AbortController();
    const call = client.sleep!(300, 'x', { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user gave up')), 20);
    await assert.rejects(call, (err: unknown) => err instanceof CancelledError && (err.cause as Error).message === 'user gave up');
    await assert.rejects(client.ping!({ signal: AbortSignal.abort() }), CancelledError);
  });

  test('bad call options and bad argument values are typed errors, nothing is sent', async () => {
    const refused = (re?: RegExp) => (err: unknown) => err instanceof InvalidArgumentError && err.unwritten && (re === undefined || re.test(err.message));
    await assert.rejects(client.ping!({ timeout: -5 }), refused());
    await assert.rejects(client.echoAll!({ aBool: true }), refused(/id/));
    await assert.rejects(client.echoString!(42), refused());
    assert.equal(await client.ping!(), 'pong');
  });

  test('an unknown method gets UNKNOWN_METHOD and the connection survives', async () => {
    const echo = Thrift.newClient(EchoService, `tcp://127.0.0.1:${port()}`);
    await assert.rejects(echo.echo(1n, 0, 'x'), (err: unknown) => err instanceof ThriftApplicationError && err.type === TApplicationExceptionType.UNKNOWN_METHOD);
    await assert.rejects(echo.echo(2n, 0, 'y'), ThriftApplicationError);
    await echo.$close();
  });

  test('a request over the frame limit fails alone', async () => {
    const small = Thrift.newClient(RichService, `tcp://127.0.0.1:${port()}`, { maxFrameSize: 1024 });
    await assert.rejects(small.echoString!('x'.repeat(2000)), FrameTooLargeError);
    assert.equal(await small.echoString!('fits'), 'fits');
    await small.$close();
  });

  test('connection refused is a ConnectError; a closed client says so', async () => {
    const unused = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const dead = Thrift.newClient(RichService, `tcp://127.0.0.1:${unused}`, { connectTimeout: 1000 });
    await assert.rejects(dead.ping!(), (err: unknown) => err instanceof ConnectError && err.endpoint === `127.0.0.1:${unused}`);
    await dead.$close();
    await assert.rejects(dead.ping!(), ClosedError);
  });

  test('pending calls fail when the server goes away', async () => {
    const other = await Thrift.serve(RichService, makeRichHandler());
    const c = Thrift.newClient(RichService, `tcp://127.0.0.1:${other.port}`);
    assert.equal(await c.ping!(), 'pong');
    const pending = c.sleep!(2000, 'never');
    setTimeout(() => void other.close(10), 20);
    await assert.rejects(pending, ConnectionClosedError);
    await c.$close();
  });

  test('a nested call inherits the deadline of the request being served', async () => {
    const backend = await Thrift.serve(RichService, makeRichHandler());
    const backendClient = Thrift.newClient(RichService, `tcp://127.0.0.1:${backend.port}`);
    const handler = { ...makeRichHandler(), sleep: (ms: number) => backendClient.sleep!(ms, 'inner') };
    const front = await Thrift.serve(RichService, handler, { requestTimeout: 50, exposeErrors: true }); // the inner timeout's text
    const c = Thrift.newClient(RichService, `tcp://127.0.0.1:${front.port}`);
    const started = Date.now();
    await assert.rejects(c.sleep!(1000), (err: unknown) => err instanceof ThriftApplicationError && /timed out/.test(err.message));
    assert.ok(Date.now() - started < 800, 'the inner call stopped at the outer deadline');
    await c.$close();
    await backendClient.$close();
    await front.close();
    await backend.close();
  });

  test('the stack prints its roles in order', () => {
    assert.deepEqual(client.$stack.roles, ['stats', 'timeout', 'retries', 'serializer', 'loadbalancer', 'failure-accrual', 'pool', 'transport']);
    assert.match(client.$stack.describe(), /^1\. stats .*\n2\. timeout .*\n3\. retries .*\n4\. serializer .*Thrift binary/);
  });
});
