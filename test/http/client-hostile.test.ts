// The HTTP client against raw TCP servers that misbehave: garbage instead of a response must be a
// ProtocolError (a ScalesError, the request marked as written), and a body trickled one byte at
// a time (which resets undici's per-chunk timer forever) must end at responseTimeout.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, ProtocolError, ScalesError, TimeoutError } from '../../src/core/errors.js';
import { Http } from '../../src/protocols/http/index.js';

/** A raw server: `answer(socket)` runs once each request's head has arrived. */
async function rawServer(answer: (sock: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let head = '';
    sock.on('data', (c) => {
      head += c.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        answer(sock);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('HTTP client against misbehaving servers', () => {
  let garbage: Awaited<ReturnType<typeof rawServer>>;
  let trickle: Awaited<ReturnType<typeof rawServer>>;
  const timers = new Set<NodeJS.Timeout>();

  before(async () => {
    garbage = await rawServer((sock) => sock.write('HELLO THERE\r\nthis is not http\r\n\r\n'));
    trickle = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      const t = setInterval(() => (sock.destroyed ? clearInterval(t) : sock.write('x')), 50);
      timers.add(t);
    });
  });

  after(async () => {
    for (const t of timers) clearInterval(t);
    await garbage.close();
    await trickle.close();
  });

  test('garbage instead of a response is a ProtocolError, not undici HTTPParserError, and not unwritten', async () => {
    const client = Http.newClient(`tcp://127.0.0.1:${garbage.port}`, { retries: false });
    try {
      const err = await client.get('/').then(
        () => assert.fail('garbage was accepted as a response'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProtocolError, `got ${String(err)}`);
      assert.ok(err instanceof ScalesError);
      assert.equal(err.code, 'SCALES_ERR_PROTOCOL');
      assert.equal(err.unwritten, false, 'the request was written: the server answered it');
      assert.equal((err.cause as Error).name, 'HTTPParserError');
    } finally {
      await client.$close();
    }
  });

  test('a request undici refuses before sending is an InvalidArgumentError marked unwritten', async () => {
    const client = Http.newClient(`tcp://127.0.0.1:${garbage.port}`, { retries: false });
    try {
      // A header value with a newline: undici rejects it before writing anything.
      const err = await client.get('/', { headers: { 'x-bad': 'a\r\nb' } }).then(
        () => assert.fail('sent'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`);
      assert.equal(err.unwritten, true);
    } finally {
      await client.$close();
    }
  });

  test('a trickled body ends at responseTimeout with TimeoutError (the call itself has no timeout)', async () => {
    const client = Http.newClient(`tcp://127.0.0.1:${trickle.port}`, { responseTimeout: 400, retries: false });
    try {
      const started = Date.now();
      await assert.rejects(client.get('/'), (e: unknown) => e instanceof TimeoutError && /responseTimeout/.test(e.message));
      const ms = Date.now() - started;
      assert.ok(ms >= 380 && ms < 5000, `ended after ${ms} ms`);
    } finally {
      await client.$close();
    }
  });

  test('responseTimeout is validated', () => {
    assert.throws(() => Http.newClient('tcp://127.0.0.1:1', { responseTimeout: 0 }), InvalidArgumentError);
  });
});
