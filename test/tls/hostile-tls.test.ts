// Hostile peers against a TLS server over raw sockets: garbage, a ClientHello cut short, silent
// sockets, a flood of broken handshakes. Each must cost only its own connection (closed fast, or
// at the handshake timeout), be counted, be reported without flooding the log, and never disturb
// a healthy mTLS client calling at the same time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { TlsError } from '../../src/transport/tls.js';
import { EchoService, type EchoClient, type EchoHandler } from '../fixtures/echo-service.js';
import { makeCerts, type TestCerts } from '../harness/certs.js';
import { until } from '../harness/wait.js';

const echo: EchoHandler = { echo: (id, _delay, payload) => ({ id, payload }) };
const HANDSHAKE_MS = 400;

let certs: TestCerts;
let server: ThriftServer;
let client: EchoClient & ClientControl;
const reported: unknown[] = [];

before(async () => {
  certs = makeCerts();
  server = await Thrift.serve(EchoService, echo, {
    tls: { certFile: certs.server.cert, keyFile: certs.server.key, caFile: certs.ca.cert, requestCert: true, handshakeTimeoutMs: HANDSHAKE_MS },
    maxConnections: 400,
    onError: (err) => reported.push(err),
  });
  client = Thrift.newClient(EchoService, `tls://127.0.0.1:${server.port}`, { tls: { caFile: certs.ca.cert, certFile: certs.client.cert, keyFile: certs.client.key }, timeout: 10_000 });
  assert.equal((await client.echo(0n, 0, 'warm')).payload, 'warm');
});
after(async () => {
  await client.$close();
  await server.close();
  certs.remove();
});

function failures(): number {
  return server.stats.snapshot().scopes['server=Echo']?.counters['tls_handshake_failures'] ?? 0;
}

/** Sends `bytes` on a raw socket; resolves when the server closes it (or after `waitMs`, not closed). */
function sendRaw(bytes: Buffer, waitMs = 5000): Promise<{ closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = net.connect(server.port, '127.0.0.1', () => {
      if (bytes.length > 0) sock.write(bytes);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, ms: Date.now() - started });
    }, waitMs);
    sock.on('error', () => undefined);
    sock.on('data', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, ms: Date.now() - started });
    });
  });
}

describe('hostile bytes on a TLS port', () => {
  test('garbage instead of a ClientHello: closed at once, counted, reported as not-tls', async () => {
    const before = failures();
    reported.length = 0;
    const r = await sendRaw(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    assert.ok(r.closed && r.ms < HANDSHAKE_MS, `closed after ${r.ms} ms`);
    assert.equal(failures(), before + 1);
    const err = reported.find((e) => e instanceof TlsError) as TlsError | undefined;
    assert.equal(err?.reason, 'not-tls', reported.map(String).join('; '));
  });

  test('a ClientHello cut short, and a silent socket: closed at the handshake timeout', async () => {
    // A handshake record header that promises 512 bytes, then 10 of them.
    const partial = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), randomBytes(10)]);
    const [cut, silent] = await Promise.all([sendRaw(partial), sendRaw(Buffer.alloc(0))]);
    for (const r of [cut, silent]) {
      assert.ok(r.closed, 'closed by the server');
      assert.ok(r.ms >= HANDSHAKE_MS - 50 && r.ms < HANDSHAKE_MS + 3000, `closed after ${r.ms} ms`);
    }
  });

  test('a huge handshake record of junk: closed, the process unharmed', async () => {
    const r = await sendRaw(Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff]), randomBytes(0xffff)]));
    assert.ok(r.closed && r.ms < HANDSHAKE_MS + 3000, `closed after ${r.ms} ms`);
  });

  test('a flood of broken handshakes while a healthy client calls: every call answered, the log bounded', async () => {
    const before = failures();
    reported.length = 0;
    const garbage = Array.from({ length: 120 }, (_, i) => sendRaw(i % 2 === 0 ? randomBytes(64 + i) : Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), randomBytes(64)])));
    // Handshakes given up half way: the client goes away right after its ClientHello.
    const abandoned = Array.from(
      { length: 60 },
      () =>
        new Promise<void>((resolve) => {
          const s = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false });
          s.on('error', () => undefined);
          s.on('close', () => resolve());
          setImmediate(() => s.destroy());
        }),
    );
    const calls = Array.from({ length: 50 }, (_, i) => client.echo(BigInt(i), 0, `c${i}`));
    const replies = await Promise.all(calls);
    assert.deepEqual(
      replies.map((r) => r.payload),
      replies.map((_, i) => `c${i}`),
    );
    const results = await Promise.all(garbage);
    await Promise.all(abandoned);
    assert.ok(
      results.every((r) => r.closed),
      'every garbage connection closed',
    );
    // Every refusal counted; at most the burst reported (the earlier tests' reports share the window).
    await until(
      () => `120 refusals counted (${failures() - before} so far)`,
      () => failures() - before >= 120,
    );
    const tlsReports = reported.filter((e) => e instanceof TlsError).length;
    assert.ok(tlsReports <= 10, `${tlsReports} reports`);
    assert.equal((await client.echo(99n, 0, 'after')).payload, 'after');
  });
});
