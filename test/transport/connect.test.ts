import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { AddressInUseError, CancelledError, ConnectError, ConnectTimeoutError } from '../../src/core/errors.js';
import { Connection, listenTcp } from '../../src/transport/index.js';

const framing = { kind: 'length-prefixed' } as const;

/** A port nobody listens on (bound, then released). */
async function freePort(): Promise<number> {
  const l = await listenTcp({ onConnection: () => undefined });
  await l.close();
  return l.port;
}

/**
 * A listener that never accepts, with its accept queue already full: the kernel drops further
 * SYNs, so a connect to it hangs (loopback only, no unroutable addresses needed).
 */
let stuck: ChildProcess | undefined;
async function stuckPort(): Promise<number> {
  const py = `
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.2)
print(port, flush=True)
time.sleep(60)
`;
  stuck = spawn('/usr/bin/python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: stuck.stdout! }), 'line')) as [string];
  return Number(line);
}
after(() => stuck?.kill());

test('connection refused → ConnectError naming the endpoint', async () => {
  const port = await freePort();
  await assert.rejects(Connection.connect('127.0.0.1', port, { framing }), (e: unknown) => {
    assert.ok(e instanceof ConnectError, String(e));
    assert.equal(e.code, 'SCALES_ERR_CONNECT');
    assert.equal(e.endpoint, `127.0.0.1:${port}`);
    assert.equal((e.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    return true;
  });
});

test('connect timeout (accept queue full) → ConnectTimeoutError; abort while connecting → CancelledError', async () => {
  const port = await stuckPort();
  const t0 = Date.now();
  await assert.rejects(Connection.connect('127.0.0.1', port, { framing, connectTimeoutMs: 100, endpoint: 'svc:1' }), (e: unknown) => {
    assert.ok(e instanceof ConnectTimeoutError, String(e));
    assert.equal(e.endpoint, 'svc:1');
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took >= 90 && took < 1000, `timed out after ${took} ms`);

  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('user gave up')), 30);
  await assert.rejects(Connection.connect('127.0.0.1', port, { framing, signal: ac.signal }), (e: unknown) => {
    assert.ok(e instanceof CancelledError, String(e));
    assert.equal(e.endpoint, `127.0.0.1:${port}`);
    assert.equal((e.cause as Error).message, 'user gave up');
    return true;
  });
});

test('an already aborted signal rejects before any socket is opened', async () => {
  let accepted = 0;
  const l = await listenTcp({ onConnection: (s) => (accepted++, s.destroy()) });
  await assert.rejects(Connection.connect('127.0.0.1', l.port, { framing, signal: AbortSignal.abort() }), CancelledError);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(accepted, 0);
  await l.close();
});

test('listenTcp: counts connections; close() destroys stragglers after the grace period', async () => {
  const l = await listenTcp({ onConnection: () => undefined });
  assert.equal(l.host, '127.0.0.1');
  const raw = net.connect(l.port, '127.0.0.1');
  await once(raw, 'connect');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(l.connections, 1);
  const rawClosed = once(raw, 'close');
  const t0 = Date.now();
  await l.close(50);
  assert.ok(Date.now() - t0 >= 40, 'waited for the grace period');
  assert.equal(l.connections, 0);
  await rawClosed;
  await assert.rejects(Connection.connect('127.0.0.1', l.port, { framing }), ConnectError);
});

test('listenTcp: address in use → AddressInUseError (SCALES_ERR_ADDRESS_IN_USE)', async () => {
  const l = await listenTcp({ onConnection: () => undefined });
  await assert.rejects(listenTcp({ port: l.port, onConnection: () => undefined }), AddressInUseError);
  await l.close();
});
