// TLS interop with Apache Thrift's Python library (Debian python3-thrift 0.17): its TSSLSocket
// client against our TLS server, and our TLS client against its TSSLServerSocket, with and
// without client certificates. The rich checks run over the encrypted connection both ways.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { TlsError } from '../../src/transport/tls.js';
import { richChecks } from '../fixtures/rich-checks.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';
import { makeCerts, type TestCerts } from '../harness/certs.js';
import { describeRun, runPyClient, startPyServer, type PeerServer } from '../harness/peers.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

describe('Apache Python TSSLSocket -> Scales TLS server', () => {
  let server: ThriftServer;
  let mtls: ThriftServer;
  const reported: unknown[] = [];
  before(async () => {
    server = await Thrift.serve(RichService, makeRichHandler(), { tls: { certFile: certs.server.cert, keyFile: certs.server.key } });
    mtls = await Thrift.serve(RichService, makeRichHandler(), {
      tls: { certFile: certs.server.cert, keyFile: certs.server.key, caFile: certs.ca.cert, requestCert: true },
      onError: (err) => reported.push(err),
    });
  });
  after(async () => {
    await server.close();
    await mtls.close();
  });

  test('every check passes over TLS', async () => {
    const run = await runPyClient({ port: server.port, tls: { ca: certs.ca.cert } });
    assert.equal(run.failed, 0, describeRun(run));
    assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
  });

  test('every check passes over mTLS with a client certificate', async () => {
    const run = await runPyClient({ port: mtls.port, tls: { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key } });
    assert.equal(run.failed, 0, describeRun(run));
    assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
  });

  test('a Python client with an unknown certificate gets nothing, and the server says why', async () => {
    reported.length = 0;
    const run = await runPyClient({ port: mtls.port, tls: { ca: certs.ca.cert, cert: certs.otherClient.cert, key: certs.otherClient.key }, timeoutMs: 60_000 });
    assert.equal(run.passed, 0, describeRun(run));
    const refusal = reported.find((e) => e instanceof TlsError) as TlsError | undefined;
    assert.equal(refusal?.reason, 'untrusted-certificate', reported.map(String).join('; '));
  });

  test('a Python client trusting another CA fails (our certificate is checked)', async () => {
    // TSSLSocket.open fails on the certificate check: the client exits before any check.
    await assert.rejects(runPyClient({ port: server.port, tls: { ca: certs.otherCa.cert } }), /Could not connect|CERTIFICATE_VERIFY_FAILED/);
  });
});

describe('Scales TLS client -> Apache Python TSSLServerSocket', () => {
  let py: PeerServer;
  let client: RichClient & ClientControl;
  before(async () => {
    py = await startPyServer({ tls: { cert: certs.server.cert, key: certs.server.key } });
    client = Thrift.newClient(RichService, `tls://127.0.0.1:${py.port}`, { tls: { caFile: certs.ca.cert }, timeout: 10_000 });
  });
  after(async () => {
    await client.$close();
    await py.stop();
  });
  for (const check of richChecks('python')) test(check.name, () => check.run(client));

  test('trusting another CA: untrusted-certificate', async () => {
    const stranger = Thrift.newClient(RichService, `tls://127.0.0.1:${py.port}`, { tls: { caFile: certs.otherCa.cert }, retries: false, timeout: 10_000 });
    try {
      await assert.rejects(stranger.ping!(), (e: unknown) => e instanceof TlsError && e.reason === 'untrusted-certificate');
    } finally {
      await stranger.$close();
    }
  });
});

describe('Scales mTLS client -> Apache Python TSSLServerSocket requiring client certificates', () => {
  let py: PeerServer;
  before(async () => {
    py = await startPyServer({ tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert } });
  });
  after(() => py.stop());

  test('a client certificate signed by its CA: calls go through', async () => {
    const client = Thrift.newClient(RichService, `tls://127.0.0.1:${py.port}`, { tls: { caFile: certs.ca.cert, certFile: certs.client.cert, keyFile: certs.client.key }, timeout: 10_000 });
    try {
      assert.equal(await client.ping!(), 'pong');
    } finally {
      await client.$close();
    }
  });

  test('an unknown client certificate: OpenSSL refuses it with an alert, a TlsError at connect', async () => {
    const client = Thrift.newClient(RichService, `tls://127.0.0.1:${py.port}`, {
      tls: { caFile: certs.ca.cert, certFile: certs.otherClient.cert, keyFile: certs.otherClient.key },
      retries: false,
      timeout: 10_000,
    });
    try {
      await assert.rejects(client.ping!(), (e: unknown) => {
        assert.ok(e instanceof TlsError, String(e));
        assert.equal(e.reason, 'certificate-rejected', e.message);
        assert.equal(e.endpoint, `tls://127.0.0.1:${py.port}`);
        return true;
      });
    } finally {
      await client.$close();
    }
  });

  test('no client certificate: refused, not hung', async () => {
    const client = Thrift.newClient(RichService, `tls://127.0.0.1:${py.port}`, { tls: { caFile: certs.ca.cert }, retries: false, timeout: 10_000 });
    const started = Date.now();
    try {
      await assert.rejects(client.ping!());
      assert.ok(Date.now() - started < 8000);
    } finally {
      await client.$close();
    }
  });
});
