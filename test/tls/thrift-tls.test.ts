// TLS and mTLS between our Thrift / ThriftMux clients and servers over real loopback sockets, with
// certificates made by openssl for this run: what connects, what is refused and with which typed
// error, and a certificate reloaded while the server runs.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { ConnectionClosedError, InvalidArgumentError } from '../../src/core/errors.js';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import { TlsError, type TlsFailure } from '../../src/transport/tls.js';
import { EchoService, type EchoHandler } from '../fixtures/echo-service.js';
import { makeCerts, type TestCerts } from '../harness/certs.js';

const echo: EchoHandler = { echo: (id, _delay, payload) => ({ id, payload }) };

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

/** Rejects with a TlsError of `reason` that names `endpoint`. */
async function rejectsTls(p: Promise<unknown>, reason: TlsFailure, endpoint: string): Promise<TlsError> {
  const err = await p.then(
    () => assert.fail(`expected a TlsError (${reason}), the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TlsError, `expected TlsError, got ${String(err)}`);
  assert.equal(err.reason, reason, err.message);
  assert.equal(err.code, 'SCALES_ERR_CONNECT');
  assert.equal(err.endpoint, endpoint);
  assert.ok(err.message.includes(endpoint), err.message);
  return err;
}

/** The CN of the certificate a server presents to a new connection. */
function servedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: certs.pem(certs.ca.cert), cert: certs.pem(certs.client.cert), key: certs.pem(certs.client.key) }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.on('error', reject);
  });
}

describe('Thrift over TLS (server cert only)', () => {
  let server: ThriftServer;
  let dest: string;
  before(async () => {
    server = await Thrift.serve(EchoService, echo, { tls: { certFile: certs.server.cert, keyFile: certs.server.key }, onError: false });
    dest = `tls://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  test('a client trusting the CA connects and calls', async () => {
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert }, timeout: 5000 });
    try {
      assert.deepEqual(await client.echo(7n, 0, 'over tls'), { id: 7n, payload: 'over tls' });
      assert.match(client.$stack.describe(), /TLS, Thrift framed/);
    } finally {
      await client.$close();
    }
  });

  test('withTls on a tcp:// destination, with inline PEM, and servername=localhost', async () => {
    const client = Thrift.newBuilder(EchoService)
      .withTls({ ca: certs.pem(certs.ca.cert), servername: 'localhost' })
      .withTimeout(5000)
      .build(`tcp://127.0.0.1:${server.port}`);
    try {
      assert.deepEqual(await client.echo(1n, 0, 'x'), { id: 1n, payload: 'x' });
    } finally {
      await client.$close();
    }
  });

  test('a client trusting another CA is refused: untrusted-certificate, naming the endpoint', async () => {
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.otherCa.cert }, retries: false, timeout: 5000 });
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'untrusted-certificate', dest);
    } finally {
      await client.$close();
    }
  });

  test('tls:// without options trusts only the public roots: our test CA is refused', async () => {
    const client = Thrift.newClient(EchoService, dest, { retries: false, timeout: 5000 });
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'untrusted-certificate', dest);
    } finally {
      await client.$close();
    }
  });

  test('a server name the certificate does not carry: hostname-mismatch', async () => {
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert, servername: 'db.example' }, retries: false, timeout: 5000 });
    try {
      const err = await rejectsTls(client.echo(1n, 0, 'x'), 'hostname-mismatch', dest);
      assert.match(err.message, /servername/);
    } finally {
      await client.$close();
    }
  });

  test('a plain client on the TLS port fails fast with a closed connection, not a hang', async () => {
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { retries: false, timeout: 5000 });
    const started = Date.now();
    try {
      await assert.rejects(client.echo(1n, 0, 'x'), ConnectionClosedError);
      assert.ok(Date.now() - started < 3000, 'failed at once');
    } finally {
      await client.$close();
    }
  });
});

describe('a server certificate that does not verify', () => {
  test('expired: certificate-expired', async () => {
    const server = await Thrift.serve(EchoService, echo, { tls: { certFile: certs.serverExpired.cert, keyFile: certs.serverExpired.key }, onError: false });
    const dest = `tls://127.0.0.1:${server.port}`;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert }, retries: false, timeout: 5000 });
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'certificate-expired', dest);
    } finally {
      await client.$close();
      await server.close();
    }
  });

  test('issued for another name: hostname-mismatch', async () => {
    const server = await Thrift.serve(EchoService, echo, { tls: { certFile: certs.serverOtherName.cert, keyFile: certs.serverOtherName.key }, onError: false });
    const dest = `tls://127.0.0.1:${server.port}`;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert }, retries: false, timeout: 5000 });
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'hostname-mismatch', dest);
      // ...and accepted when the client asks for the name it carries.
      const named = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert, servername: 'other.example' }, timeout: 5000 });
      assert.deepEqual(await named.echo(2n, 0, 'y'), { id: 2n, payload: 'y' });
      await named.$close();
    } finally {
      await client.$close();
      await server.close();
    }
  });
});

describe('a TLS client against a plain or silent port', () => {
  test('a plain Thrift server: closed-during-handshake, naming the endpoint', async () => {
    const server = await Thrift.serve(EchoService, echo, { onError: false });
    const dest = `tls://127.0.0.1:${server.port}`;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert }, retries: false, timeout: 5000 });
    try {
      const err = await rejectsTls(client.echo(1n, 0, 'x'), 'closed-during-handshake', dest);
      assert.match(err.message, /TLS port/);
    } finally {
      await client.$close();
      await server.close();
    }
  });

  test('a port that answers in plain text: not-tls', async () => {
    const plain = net.createServer((s) => {
      s.on('error', () => undefined);
      s.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const dest = `tls://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert }, retries: false, timeout: 5000 });
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'not-tls', dest);
    } finally {
      await client.$close();
      plain.close();
    }
  });

  test('a port that never answers: handshake-timeout after handshakeTimeoutMs', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const dest = `tls://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert, handshakeTimeoutMs: 300 }, retries: false, timeout: 10_000 });
    const started = Date.now();
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'handshake-timeout', dest);
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 5000, `took ${took} ms`);
    } finally {
      await client.$close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('mTLS', () => {
  let server: ThriftServer;
  let dest: string;
  const reported: unknown[] = [];
  before(async () => {
    server = await Thrift.serve(EchoService, echo, {
      tls: { certFile: certs.server.cert, keyFile: certs.server.key, caFile: certs.ca.cert, requestCert: true },
      onError: (err) => reported.push(err),
    });
    dest = `tls://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  const clientCert = () => ({ caFile: certs.ca.cert, certFile: certs.client.cert, keyFile: certs.client.key });

  test('a client certificate signed by the CA is accepted', async () => {
    const client = Thrift.newClient(EchoService, dest, { tls: clientCert(), timeout: 5000 });
    try {
      assert.deepEqual(await client.echo(3n, 0, 'mutual'), { id: 3n, payload: 'mutual' });
    } finally {
      await client.$close();
    }
  });

  test('an unknown client certificate is refused at connect (TlsError), and the server reports why', async () => {
    reported.length = 0;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert, certFile: certs.otherClient.cert, keyFile: certs.otherClient.key }, retries: false, timeout: 5000 });
    try {
      await rejectsTls(client.echo(1n, 0, 'x'), 'certificate-rejected', dest);
    } finally {
      await client.$close();
    }
    const serverSide = reported.find((e) => e instanceof TlsError) as TlsError | undefined;
    assert.ok(serverSide, `server reported: ${reported.map(String).join('; ')}`);
    assert.equal(serverSide.reason, 'untrusted-certificate');
    assert.match(serverSide.message, /^TLS client 127\.0\.0\.1:\d+ refused: the client's certificate is not signed by a trusted CA/);
  });

  test('a client without a certificate never reaches the handler, and the server reports certificate-required', async () => {
    reported.length = 0;
    const client = Thrift.newClient(EchoService, dest, { tls: { caFile: certs.ca.cert }, retries: false, timeout: 5000 });
    try {
      await assert.rejects(client.echo(1n, 0, 'x'), ConnectionClosedError);
    } finally {
      await client.$close();
    }
    const serverSide = reported.find((e) => e instanceof TlsError) as TlsError | undefined;
    assert.equal(serverSide?.reason, 'certificate-required');
  });

  test('ThriftMux over mTLS, same options', async () => {
    const mux = await ThriftMux.serve(EchoService, echo, { tls: { certFile: certs.server.cert, keyFile: certs.server.key, caFile: certs.ca.cert, requestCert: true }, onError: false });
    const muxDest = `tls://127.0.0.1:${mux.port}`;
    const client = ThriftMux.newBuilder(EchoService).withTls(clientCert()).withTimeout(5000).build(muxDest);
    const stranger = ThriftMux.newClient(EchoService, muxDest, { tls: { caFile: certs.otherCa.cert, certFile: certs.client.cert, keyFile: certs.client.key }, retries: false, timeout: 5000 });
    try {
      const replies = await Promise.all([1n, 2n, 3n].map((i) => client.echo(i, 0, `m${i}`)));
      assert.deepEqual(
        replies.map((r) => r.payload),
        ['m1', 'm2', 'm3'],
      );
      assert.match(client.$stack.describe(), /TLS, mux/);
      await rejectsTls(stranger.echo(1n, 0, 'x'), 'untrusted-certificate', muxDest);
    } finally {
      await client.$close();
      await stranger.$close();
      await mux.close();
    }
  });
});

describe('hot reload of the server certificate', () => {
  test('reloadTls() re-reads the files: new connections get the new certificate, open ones keep working', async () => {
    const certFile = join(certs.dir, 'live.crt');
    const keyFile = join(certs.dir, 'live.key');
    copyFileSync(certs.server.cert, certFile);
    copyFileSync(certs.server.key, keyFile);
    const server = await Thrift.serve(EchoService, echo, { tls: { certFile, keyFile }, onError: false });
    const client = Thrift.newClient(EchoService, `tls://127.0.0.1:${server.port}`, { tls: { caFile: certs.ca.cert }, poolSize: 1, timeout: 5000 });
    try {
      assert.equal(await servedCn(server.port), 'scales-server');
      assert.equal((await client.echo(1n, 0, 'before')).payload, 'before');

      copyFileSync(certs.server2.cert, certFile);
      copyFileSync(certs.server2.key, keyFile);
      assert.equal(await servedCn(server.port), 'scales-server', 'nothing changes until reloadTls()');
      server.reloadTls();
      assert.equal(await servedCn(server.port), 'scales-server-2');
      assert.equal((await client.echo(2n, 0, 'after')).payload, 'after', 'the open connection keeps working');
      assert.equal(server.connections >= 1, true);
    } finally {
      await client.$close();
      await server.close();
    }
  });

  test('reloadTls(options) swaps in PEM given inline; a bad one throws and the old certificate stays', async () => {
    const server = await Thrift.serve(EchoService, echo, { tls: { certFile: certs.server.cert, keyFile: certs.server.key }, onError: false });
    try {
      assert.throws(() => server.reloadTls({ cert: 'not a certificate', key: certs.pem(certs.server.key) }), InvalidArgumentError);
      assert.throws(() => server.reloadTls({ cert: certs.pem(certs.server2.cert), key: certs.pem(certs.server.key) }), InvalidArgumentError, 'a key that does not fit');
      assert.equal(await servedCn(server.port), 'scales-server');
      server.reloadTls({ cert: certs.pem(certs.server2.cert), key: certs.pem(certs.server2.key) });
      assert.equal(await servedCn(server.port), 'scales-server-2');
    } finally {
      await server.close();
    }
  });

  test('a plain server has nothing to reload', async () => {
    const server = await Thrift.serve(EchoService, echo, { onError: false });
    try {
      assert.throws(() => server.reloadTls(), InvalidArgumentError);
    } finally {
      await server.close();
    }
  });
});

describe('options are checked when the client is built or the server starts', () => {
  test('bad TLS options are InvalidArgumentErrors that say what is wrong', async () => {
    const build = (t: Parameters<typeof Thrift.newClient>[2]) => () => Thrift.newClient(EchoService, 'tls://127.0.0.1:1', t);
    assert.throws(build({ tls: { caFile: '/nonexistent/ca.pem' } }), /tls\.caFile: cannot read '\/nonexistent\/ca\.pem'/);
    assert.throws(build({ tls: { ca: 'x', caFile: certs.ca.cert } }), /either ca or caFile/);
    assert.throws(build({ tls: { certFile: certs.client.cert } }), /cert and key go together/);
    assert.throws(build({ tls: { handshakeTimeoutMs: -1 } }), /handshakeTimeoutMs must be a positive number, got number -1/);
    await assert.rejects(Thrift.serve(EchoService, echo, { tls: { caFile: certs.ca.cert } }), /a server needs cert/);
    await assert.rejects(Thrift.serve(EchoService, echo, { tls: { certFile: certs.server.cert, keyFile: certs.server.key, requestCert: true } }), /requestCert needs ca/);
  });
});
