// The errors a new user meets in the first hour: the cause first, the endpoint, the bad value
// with its type, one rule for timeouts, typos refused, typed listen errors.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Http } from '../../src/protocols/http/index.js';
import * as HttpEntry from '../../src/protocols/http/index.js';
import { AddressInUseError, ConnectError, InvalidArgumentError, ScalesError, Thrift, TimeoutError, type ThriftServer } from '../../src/protocols/thrift/index.js';
import * as ThriftMuxEntry from '../../src/protocols/thriftmux/index.js';
import * as ZeroEntry from '../../src/protocols/zerorpc/index.js';
import { echoHandler, EchoService } from '../fixtures/echo-service.js';
import { freePort } from '../harness/ports.js';

let server: ThriftServer;
before(async () => {
  server = await Thrift.serve(EchoService, echoHandler, { port: 0 });
});
after(() => server.close());

const invalid =
  (pattern: RegExp) =>
  (err: unknown): boolean =>
    err instanceof InvalidArgumentError && pattern.test(err.message);

describe('connect failures lead with their cause', () => {
  test('the first call and the ones refused during backoff both start with "cannot connect to H:P: ECONNREFUSED"', async () => {
    const port = await freePort();
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${port}`, { retries: false, failureAccrual: false });
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(client.echo(1n, 0, 'x'), (err: unknown) => {
          assert.ok(err instanceof ConnectError, String(err));
          assert.match(err.message, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
          assert.equal(err.endpoint, `127.0.0.1:${port}`);
          if (i === 1) assert.match(err.message, /\(no new connect for another \d+ ms after 1 failed attempt\)$/);
          return true;
        });
      }
    } finally {
      await client.$close();
    }
  });
});

describe('timeouts: one rule, one precedence', () => {
  test('a TimeoutError names the endpoint the call was waiting for', async () => {
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { poolSize: 1 });
    try {
      await client.echo(0n, 0, 'connected'); // so the deadline passes on the call, not while connecting
      await assert.rejects(client.echo(1n, 2000, 'slow', { timeout: 200 }), (err: unknown) => {
        assert.ok(err instanceof TimeoutError, String(err));
        assert.equal(err.endpoint, `127.0.0.1:${server.port}`);
        assert.match(err.message, new RegExp(`^echo timed out after \\d+ ms \\(waiting for 127\\.0\\.0\\.1:${server.port}\\)$`));
        return true;
      });
    } finally {
      await client.$close();
    }
  });

  test("bad timeouts are refused with the value's type, at client and call level alike", async () => {
    const dest = `tcp://127.0.0.1:${server.port}`;
    const asString = '100' as unknown as number;
    assert.throws(() => Thrift.newClient(EchoService, dest, { timeout: asString }), invalid(/^timeout must be a positive number of milliseconds, got the string '100'$/));
    const client = Thrift.newClient(EchoService, dest);
    try {
      await assert.rejects(client.echo(1n, 0, 'x', { timeout: asString }), invalid(/^timeout must be a positive number of milliseconds, got the string '100'$/));
      for (const bad of [0, -1, Number.NaN]) {
        assert.throws(() => Thrift.newClient(EchoService, dest, { timeout: bad }), invalid(/positive number of milliseconds/), `client timeout ${bad}`);
        await assert.rejects(client.echo(1n, 0, 'x', { timeout: bad }), invalid(/positive number of milliseconds/), `call timeout ${bad}`);
      }
      // Infinity means "none" at both levels.
      const unbounded = Thrift.newClient(EchoService, dest, { timeout: Infinity });
      assert.equal((await unbounded.echo(2n, 0, 'ok', { timeout: Infinity })).payload, 'ok');
      await unbounded.$close();
    } finally {
      await client.$close();
    }
  });

  test("a call's own timeout replaces the client's default, longer or shorter (docs/resilience.md)", async () => {
    const dest = `tcp://127.0.0.1:${server.port}`;
    const short = Thrift.newClient(EchoService, dest, { timeout: 60 });
    const long = Thrift.newClient(EchoService, dest, { timeout: 5000 });
    try {
      await assert.rejects(short.echo(1n, 300, 'x'), TimeoutError); // the default applies
      assert.equal((await short.echo(2n, 300, 'longer', { timeout: 5000 })).payload, 'longer'); // the call's own, longer
      const started = performance.now();
      await assert.rejects(long.echo(3n, 2000, 'x', { timeout: 60 }), TimeoutError); // the call's own, shorter
      assert.ok(performance.now() - started < 1500, 'the shorter per-call timeout won');
      assert.equal((await short.echo(4n, 300, 'deadline', { deadline: Date.now() + 5000 })).payload, 'deadline'); // a deadline replaces it too
    } finally {
      await Promise.all([short.$close(), long.$close()]);
    }
  });
});

describe('typos are refused when the client is built', () => {
  test('unknown option keys, naming the known ones', () => {
    const dest = `tcp://127.0.0.1:${server.port}`;
    const typo = { timout: 100 } as unknown as { timeout: number };
    assert.throws(() => Thrift.newClient(EchoService, dest, typo), invalid(/^unknown option 'timout'; the known options are: timeout, connectTimeout, .*protocol, transport/));
    assert.throws(() => Http.newClient(dest, typo), invalid(/^unknown option 'timout'.*maxResponseBytes/));
    assert.throws(() => ThriftMuxEntry.ThriftMux.newClient(EchoService, dest, typo), invalid(/^unknown option 'timout'.*pingInterval/));
  });

  test('idempotent method names the service does not have', () => {
    const dest = `tcp://127.0.0.1:${server.port}`;
    // @ts-expect-error 'gett' is not a method of Echo: the builder's method names are typed
    assert.throws(() => Thrift.newBuilder(EchoService).withIdempotent(['gett']), invalid(/^idempotent: Echo has no method 'gett'; its methods are: echo$/));
    assert.throws(() => Thrift.newClient(EchoService, dest, { idempotent: ['gett'] }), invalid(/no method 'gett'/));
    const ok = Thrift.newBuilder(EchoService).withIdempotent(['echo']).withHedging({ delay: 10 }).build(dest);
    void ok.$close();
  });
});

describe('listen errors are typed', () => {
  test('a bad port is an InvalidArgumentError naming the value and its type', async () => {
    await assert.rejects(Thrift.serve(EchoService, echoHandler, { port: 'abc' as unknown as number }), invalid(/^port must be an integer from 0 to 65535 \(0: any free port\), got the string 'abc'$/));
    await assert.rejects(Thrift.serve(EchoService, echoHandler, { port: 70000 }), invalid(/got the number 70000/));
  });

  test('an unknown server option key is refused, naming it and the known ones (Thrift and ThriftMux)', async () => {
    const typo = { maxConcurent: 10 } as unknown as { maxConcurrent: number };
    await assert.rejects(Thrift.serve(EchoService, echoHandler, typo), invalid(/^Thrift\.serve: unknown option 'maxConcurent'; the known options are: .*maxConcurrent/));
    await assert.rejects(ThriftMuxEntry.ThriftMux.serve(EchoService, echoHandler, typo), invalid(/^ThriftMux\.serve: unknown option 'maxConcurent'/));
  });

  test('EADDRINUSE is an AddressInUseError (SCALES_ERR_ADDRESS_IN_USE)', async () => {
    await assert.rejects(Thrift.serve(EchoService, echoHandler, { port: server.port }), (err: unknown) => {
      assert.ok(err instanceof AddressInUseError, String(err));
      assert.equal(err.code, 'SCALES_ERR_ADDRESS_IN_USE');
      assert.equal(err.endpoint, `127.0.0.1:${server.port}`);
      assert.match(err.message, /in use \(EADDRINUSE\)/);
      return true;
    });
  });
});

test('the HTTP size limit speaks of the response body and the option, not of frames', async () => {
  const web = http.createServer((_req, res) => res.end(Buffer.alloc(5000, 'x')));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const port = (web.address() as { port: number }).port;
  const api = Http.newClient(`tcp://127.0.0.1:${port}`, { maxResponseBytes: 1000 });
  try {
    await assert.rejects(api.get('/'), (err: unknown) => {
      assert.ok(err instanceof ScalesError && err.code === 'SCALES_ERR_FRAME_TOO_LARGE', String(err));
      assert.match(err.message, /^the response body from 127\.0\.0\.1:\d+ is over maxResponseBytes \(1000 bytes\)/);
      assert.doesNotMatch(err.message, /frame/);
      return true;
    });
  } finally {
    await api.$close();
    await new Promise((resolve) => web.close(resolve));
  }
});

test('every protocol entry point exports ScalesError and what a custom layer needs', () => {
  const entries: Record<string, Record<string, unknown>> = { http: HttpEntry, thriftmux: ThriftMuxEntry, zerorpc: ZeroEntry, thrift: { ScalesError, AddressInUseError, TimeoutError } };
  for (const [name, e] of Object.entries(entries)) {
    const wanted =
      name === 'thrift' ? ['ScalesError', 'AddressInUseError', 'TimeoutError'] : ['ScalesError', 'TimeoutError', 'InvalidArgumentError', 'isScalesError', 'layer', 'ForwardingService', 'CallContext'];
    for (const symbol of wanted) assert.equal(typeof e[symbol], 'function', `scales-rpc/${name} exports ${symbol}`);
    if (name !== 'thrift') assert.equal(typeof e.Role, 'object', `scales-rpc/${name} exports Role`);
  }
});
