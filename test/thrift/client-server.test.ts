// Our Thrift client against our Thrift server over real loopback TCP: every method of the rich
// IDL in every protocol/transport combination, then the failure behaviour a caller relies on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  CancelledError,
  ClosedError,
  ConnectError,
  ConnectionClosedError,
  FrameTooLargeError,
  InvalidArgumentError,
  TimeoutError,
} from '../../src/core/errors.js';
import { TApplicationExceptionType, Thrift, ThriftApplicationError, ThriftException, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';
import { makeRichHandler, rich, RichService, type RichClient } from '../fixtures/rich-handler.js';

const Point = (x: number, y: number) => ({ x, y });

function allTypes(): Record<string, unknown> {
  const p1 = Point(1, 2);
  const p2 = Point(-3, 4);
  return {
    aBool: true,
    aByte: -128,
    anI16: -32768,
    anI32: 2147483647,
    anI64: -(2n ** 63n),
    aDouble: -0,
    aString: 'héllo 𝄞 wörld',
    aBinary: Buffer.from([0, 1, 254, 255]),
    priority: 6,
    note: 'optional set',
    id: 'id-1',
    strings: ['a', '', 'ü'],
    longs: new Set([2n ** 63n - 1n, 0n]),
    weights: new Map([['nan', Number.NaN], ['inf', Infinity]]),
    matrix: [[1, 2], [], [3]],
    pointNames: new Map([[p1, 'one'], [p2, 'two']]),
    pointSet: new Set([p1]),
    deep: new Map([[7, new Map([['k', [p1, p2]]])]]),
    audit: { createdAt: 1700000000000n, createdBy: 'me' },
    ints: [5, -5],
    statuses: new Map([['x', [1, 10]]]),
    blobs: [Buffer.alloc(0), Buffer.from('zz')],
    withDefault: 1,
    strDefault: '',
    listDefault: [],
    tree: { label: 'root', children: [{ label: 'leaf', children: [] }] },
  };
}

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

    test('base service methods (extends)', async () => {
      assert.equal(await client.ping!(), 'pong');
      assert.equal(await client.version!(), 7);
    });

    test('AllTypes with extremes, containers, struct keys and recursion', async () => {
      const sent = allTypes();
      const got = (await client.echoAll!(sent)) as Record<string, unknown>;
      assert.ok(Object.is(got['aDouble'], -0), '-0 survives');
      assert.ok(Number.isNaN((got['weights'] as Map<string, number>).get('nan')));
      const keys = [...(got['pointNames'] as Map<object, string>).entries()];
      assert.deepEqual(keys, [[Point(1, 2), 'one'], [Point(-3, 4), 'two']]);
      assert.deepEqual(got, sent);
    });

    test('defaults are filled in for absent fields', async () => {
      const got = (await client.echoAll!({ id: 'only-required' })) as Record<string, unknown>;
      assert.equal(got['withDefault'], 42);
      assert.equal(got['strDefault'], 'dflt');
      assert.deepEqual(got['listDefault'], [1, 2, 3]);
      assert.equal(got['priority'], 5);
      assert.equal(got['note'], undefined);
    });

    test('scalars, unions, maps with struct keys, enums', async () => {
      assert.equal(await client.addI64!(2n ** 63n - 1n, 1n), -(2n ** 63n), 'wraps like a signed 64-bit add');
      assert.ok(Object.is(await client.echoDouble!(-0), -0));
      assert.equal(await client.echoString!(''), '');
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      assert.deepEqual(await client.echoBinary!(bytes), bytes);
      for (const shape of [{ point: Point(1, 1) }, { radius: 2.5 }, { name: 'sq' }]) {
        assert.deepEqual(await client.echoShape!(shape), shape);
      }
      assert.deepEqual(await client.echoShapes!([{ radius: 1 }, { name: 'x' }]), [{ radius: 1 }, { name: 'x' }]);
      const m = new Map([[Point(0, 0), 'origin']]);
      assert.deepEqual(await client.echoPointMap!(m), m);
      assert.equal(await client.echoPriority!(0), 0);
      assert.equal(await client.echoWithDefault!(undefined, 3), 'fallback:3', 'argument defaults apply');
    });

    test('declared exceptions arrive as the declared types', async () => {
      assert.equal(await client.lookup!('k'), 'value:k');
      await assert.rejects(client.lookup!('missing'), (err: unknown) => {
        assert.ok(err instanceof rich.exceptions['NotFound']!);
        assert.ok(err instanceof ThriftException);
        assert.equal((err as ThriftException & { key: string }).key, 'missing');
        assert.equal((err as Error).message, 'no such key');
        return true;
      });
      await assert.rejects(client.lookup!('invalid'), (err: unknown) => {
        assert.ok(err instanceof rich.exceptions['Invalid']!);
        assert.deepEqual((err as unknown as { fields: string[] }).fields, ['key']);
        return true;
      });
      await assert.rejects(client.lookup!('shared'), (err: unknown) => {
        assert.ok(err instanceof rich.exceptions['shared.SharedError']!);
        assert.equal((err as unknown as { code: number }).code, 409);
        return true;
      });
    });

    test('a handler crash is an INTERNAL_ERROR application exception', async () => {
      await assert.rejects(client.crash!('boom'), (err: unknown) => {
        assert.ok(err instanceof ThriftApplicationError);
        assert.equal(err.type, TApplicationExceptionType.INTERNAL_ERROR);
        assert.equal(err.code, 'SCALES_ERR_APPLICATION');
        assert.match(err.message, /boom/);
        return true;
      });
      assert.equal(await client.ping!(), 'pong', 'the connection survives');
    });

    test('void and oneway', async () => {
      assert.equal(await client.noop!(), undefined);
      assert.equal(await client.record!(`event-${protocol}`), undefined);
      // A oneway call has no reply; the next call on the same connection is ordered after it.
      assert.equal(await client.lastRecorded!(), `event-${protocol}`);
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
    await assert.rejects(client.ping!({ timeout: -5 }), InvalidArgumentError);
    await assert.rejects(client.echoAll!({ aBool: true }), (err: unknown) => err instanceof InvalidArgumentError && /id/.test(err.message));
    await assert.rejects(client.echoString!(42), InvalidArgumentError);
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
    const front = await Thrift.serve(RichService, handler, { requestTimeout: 50 });
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
    assert.deepEqual(client.$stack.roles, ['timeout', 'serializer', 'loadbalancer', 'pool', 'transport']);
    assert.match(client.$stack.describe(), /^1\. timeout .*\n2\. serializer .*Thrift binary/);
  });
});
