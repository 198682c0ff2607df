// The HTTP client against a real node:http server over loopback: every method, bodies and
// headers, deadlines and cancellation, limits, keep-alive reuse, and what counts as a failure.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ConnectError, FrameTooLargeError, InvalidArgumentError, TimeoutError } from '../../src/core/errors.js';
import { Http, type HttpClient } from '../../src/protocols/http/index.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('HTTP client over a real server', () => {
  let server: http.Server;
  let port = 0;
  let client: HttpClient;
  const sockets = new Set<unknown>();
  let connections = 0;

  before(async () => {
    server = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const seen: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const url = new URL(req.url!, 'http://x');
      const delay = Number(url.searchParams.get('delay') ?? 0);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (url.pathname === '/status') {
        res.writeHead(Number(url.searchParams.get('code'))).end('status');
        return;
      }
      if (url.pathname === '/big') {
        res.writeHead(200).end(Buffer.alloc(Number(url.searchParams.get('n')), 97));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' }).end(req.method === 'HEAD' ? undefined : JSON.stringify(seen));
    });
    server.on('connection', (s) => {
      connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    client = Http.newBuilder({ timeout: 5000 }).withLabel('api').withHeaders({ 'x-client': 'scales' }).build(`tcp://127.0.0.1:${port}`);
  });
  after(async () => {
    await client.$close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('GET/DELETE/OPTIONS carry no body; POST/PUT/PATCH send text, bytes or JSON', async () => {
    for (const m of ['get', 'delete', 'options'] as const) {
      const res = await client[m]('/r?q=1');
      assert.equal(res.status, 200);
      assert.ok(res.ok);
      const seen = res.json<Seen>();
      assert.equal(seen.method, m.toUpperCase());
      assert.equal(seen.url, '/r?q=1');
      assert.equal(seen.body, '');
    }
    const text = (await client.post('/t', 'héllo')).json<Seen>();
    assert.equal(text.body, 'héllo');
    const bytes = (await client.put('/b', new Uint8Array([104, 105]))).json<Seen>();
    assert.equal(bytes.body, 'hi');
    const json = (await client.patch('/j', { a: 1, list: [true, null] })).json<Seen>();
    assert.deepEqual(JSON.parse(json.body), { a: 1, list: [true, null] });
    assert.equal(json.headers['content-type'], 'application/json');
  });

  test('HEAD returns headers and no body', async () => {
    const res = await client.head('/h');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-echo'], 'yes');
    assert.equal(res.body.length, 0);
    // The session undici closes after a HEAD is not reused: the next call still works.
    assert.equal((await client.get('/after-head')).json<Seen>().url, '/after-head');
  });

  test('default headers go on every call; per-call headers win', async () => {
    const seen = (await client.get('/h', { headers: { 'x-call': '1' } })).json<Seen>();
    assert.equal(seen.headers['x-client'], 'scales');
    assert.equal(seen.headers['x-call'], '1');
    const over = (await client.get('/h', { headers: { 'x-client': 'mine' } })).json<Seen>();
    assert.equal(over.headers['x-client'], 'mine');
  });

  test('any status is a response; 5xx counts as a failure in stats', async () => {
    const before = client.$stats.snapshot().scopes['client=api']!.counters;
    const notFound = await client.get('/status?code=404');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.ok, false);
    const unavailable = await client.get('/status?code=503');
    assert.equal(unavailable.status, 503);
    const after = client.$stats.snapshot().scopes['client=api']!.counters;
    assert.equal((after['failures.HTTP_5XX'] ?? 0) - (before['failures.HTTP_5XX'] ?? 0), 1);
    assert.equal(after['successes']! - before['successes']!, 1);
  });

  test('50 concurrent calls: every caller gets its own response over at most 8 kept-alive connections', async () => {
    const opened = connections;
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => client.get(`/c/${i}?delay=5`)));
    for (const [i, res] of all.entries()) assert.equal(res.json<Seen>().url, `/c/${i}?delay=5`);
    assert.ok(connections - opened <= 8, `${connections - opened} new connections (highWatermark is 8)`);
    const again = connections;
    for (let i = 0; i < 10; i++) await client.get(`/seq/${i}`);
    assert.equal(connections, again, 'sequential calls reuse a kept-alive connection');
  });

  test('per-call timeout: TimeoutError at the deadline, and the connection is not reused for the next caller', async () => {
    const t0 = Date.now();
    await assert.rejects(client.get('/slow?delay=2000', { timeout: 100 }), TimeoutError);
    const took = Date.now() - t0;
    assert.ok(took >= 90 && took < 1500, `timed out after ${took} ms`);
    assert.equal((await client.get('/next')).json<Seen>().url, '/next');
  });

  test('AbortSignal cancels at once with CancelledError', async () => {
    const ac = new AbortController();
    const p = client.get('/slow?delay=2000', { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user gave up')), 50);
    await assert.rejects(p, CancelledError);
  });

  test('a response larger than maxResponseBytes fails with FrameTooLargeError', async () => {
    const small = Http.newClient(`tcp://127.0.0.1:${port}`, { maxResponseBytes: 1000 });
    try {
      assert.equal((await small.get('/big?n=1000')).body.length, 1000);
      await assert.rejects(small.get('/big?n=200000'), FrameTooLargeError);
      assert.equal((await small.get('/big?n=10')).body.length, 10, 'the client still works afterwards');
    } finally {
      await small.$close();
    }
  });

  test('bad input is a typed error, not a crash', async () => {
    await assert.rejects(client.get('no-slash'), InvalidArgumentError);
    await assert.rejects(client.get('/x', { timeout: -1 }), InvalidArgumentError);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    await assert.rejects(client.post('/x', cyclic), InvalidArgumentError);
    await assert.rejects(client.post('/x', { n: 1n }), /cannot be sent as JSON/);
    assert.throws(() => Http.newClient('tcp://127.0.0.1:0'), InvalidArgumentError);
    assert.throws(() => Http.newClient('ftp://h:1'), InvalidArgumentError);
    assert.throws(() => Http.newClient(`tcp://127.0.0.1:${port}`, { pool: { kind: 'singleton' } }), /watermark/);
    assert.throws(() => Http.newClient(`tcp://127.0.0.1:${port}`, { loadBalancer: 'nope' as 'p2c' }), InvalidArgumentError);
  });

  test('nothing listening: ConnectError naming the endpoint, quickly', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const dead = Http.newClient(`tcp://127.0.0.1:${freePort}`, { timeout: 5000 });
    try {
      const t0 = Date.now();
      await assert.rejects(dead.get('/'), (err: unknown) => err instanceof ConnectError && err.message.includes(`127.0.0.1:${freePort}`));
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      await dead.$close();
    }
  });

  test('$close closes every connection', async () => {
    const c = Http.newClient(`tcp://127.0.0.1:${port}`);
    await Promise.all([c.get('/a'), c.get('/b')]);
    const open = sockets.size;
    await c.$close();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(sockets.size < open, `server still sees ${sockets.size} of ${open} sockets`);
  });
});
