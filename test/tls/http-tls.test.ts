// The HTTP client over https:// against Node's own https server (server certificate, then mTLS),
// http:// destinations, and the refusals a wrong CA, an unknown client certificate or a plain
// port must produce.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type tls from 'node:tls';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { Http } from '../../src/protocols/http/index.js';
import { httpDestination } from '../../src/protocols/http/client.js';
import { TlsError } from '../../src/transport/tls.js';
import { makeCerts, type TestCerts } from '../harness/certs.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

/** Answers with what it saw: the method, path, Host header, and the client certificate's CN. */
function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  const peer = (req.socket as tls.TLSSocket).getPeerCertificate?.();
  const cn = peer && Object.keys(peer).length > 0 ? String(peer.subject.CN) : null;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: req.method, path: req.url, host: req.headers.host, encrypted: 'encrypted' in req.socket, clientCn: cn }));
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

describe('https:// against node:https', () => {
  let server: https.Server;
  let port: number;
  before(async () => {
    server = https.createServer({ cert: certs.pem(certs.server.cert), key: certs.pem(certs.server.key) }, answer);
    port = await listen(server);
  });
  after(() => close(server));

  test('trusting the CA: requests go over TLS, keep-alive reuses the connection', async () => {
    const client = Http.newBuilder().withTls({ caFile: certs.ca.cert }).withTimeout(5000).build(`https://127.0.0.1:${port}`);
    try {
      const r1 = await client.get('/a');
      const r2 = await client.post('/b', { x: 1 });
      assert.deepEqual(r1.json(), { method: 'GET', path: '/a', host: `127.0.0.1:${port}`, encrypted: true, clientCn: null });
      assert.equal((r2.json() as { path: string }).path, '/b');
      assert.match(client.$stack.describe(), /TLS, HTTP\/1\.1/);
    } finally {
      await client.$close();
    }
  });

  test('trusting another CA: TlsError untrusted-certificate naming the endpoint', async () => {
    const client = Http.newClient(`https://127.0.0.1:${port}`, { tls: { caFile: certs.otherCa.cert }, retries: false, timeout: 5000 });
    try {
      await assert.rejects(client.get('/'), (e: unknown) => {
        assert.ok(e instanceof TlsError, String(e));
        assert.equal(e.reason, 'untrusted-certificate');
        assert.equal(e.endpoint, `tls://127.0.0.1:${port}`);
        return true;
      });
    } finally {
      await client.$close();
    }
  });

  test('http:// to the TLS port fails at once, not after a timeout', async () => {
    const client = Http.newClient(`http://127.0.0.1:${port}`, { retries: false, timeout: 5000 });
    const started = Date.now();
    try {
      await assert.rejects(client.get('/'));
      assert.ok(Date.now() - started < 3000);
    } finally {
      await client.$close();
    }
  });
});

describe('https:// with mTLS against node:https (requestCert)', () => {
  let server: https.Server;
  let port: number;
  before(async () => {
    server = https.createServer({ cert: certs.pem(certs.server.cert), key: certs.pem(certs.server.key), ca: certs.pem(certs.ca.cert), requestCert: true, rejectUnauthorized: true }, answer);
    port = await listen(server);
  });
  after(() => close(server));

  test('the client certificate reaches the server', async () => {
    const client = Http.newClient(`https://localhost:${port}`, { tls: { caFile: certs.ca.cert, certFile: certs.client.cert, keyFile: certs.client.key }, timeout: 5000 });
    try {
      const body = (await client.get('/who')).json() as { clientCn: string; host: string };
      assert.equal(body.clientCn, 'scales-client');
      assert.equal(body.host, `localhost:${port}`);
    } finally {
      await client.$close();
    }
  });

  test('an unknown client certificate: TlsError certificate-rejected at connect', async () => {
    const client = Http.newClient(`https://127.0.0.1:${port}`, { tls: { caFile: certs.ca.cert, certFile: certs.otherClient.cert, keyFile: certs.otherClient.key }, retries: false, timeout: 5000 });
    try {
      await assert.rejects(client.get('/'), (e: unknown) => e instanceof TlsError && e.reason === 'certificate-rejected');
    } finally {
      await client.$close();
    }
  });
});

describe('http:// destinations', () => {
  test('http://host:port reaches a plain server', async () => {
    const server = http.createServer(answer);
    const port = await listen(server);
    const client = Http.newClient(`http://127.0.0.1:${port}/`, { timeout: 5000 });
    try {
      assert.deepEqual((await client.get('/p')).json(), { method: 'GET', path: '/p', host: `127.0.0.1:${port}`, encrypted: false, clientCn: null });
    } finally {
      await client.$close();
      await close(server);
    }
  });

  test('scheme mapping: default ports, lists, and what is refused', () => {
    assert.equal(httpDestination('http://a', false), 'tcp://a:80');
    assert.equal(httpDestination('https://a,b:8443', true), 'tls://a:443,b:8443');
    assert.equal(httpDestination('HTTPS://[::1]', false), 'tls://[::1]:443');
    assert.equal(httpDestination('tcp://a:1', false), 'tcp://a:1');
    assert.throws(() => httpDestination('https://a/users', false), /has a path/);
    assert.throws(() => Http.newClient('http://a:1', { tls: { caFile: certs.ca.cert } }), InvalidArgumentError);
  });
});
