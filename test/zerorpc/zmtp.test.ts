// Our ZMTP transport on the wire: the handshake bytes as RFC 23/37 spell them (written out here,
// not taken from the implementation), libzmq (the zeromq binding) on the other end, and hostile
// peers: each loses its own connection with a typed error while the server serves the others.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { ConnectError, FrameTooLargeError, ProtocolError } from '../../src/core/errors.js';
import { encodeEvent, eventDecoder, MessageIds, ZeroRpc, type UntypedZeroClient, type ZeroServer } from '../../src/protocols/zerorpc/index.js';
import { sleep, until } from '../harness/wait.js';

const decode = eventDecoder();
const ids = new MessageIds();

/** signature (0xFF, 8 bytes padding, 0x7F), version 3.1, mechanism, as-server, filler: 64 bytes. */
function greetingBytes(mechanism = 'NULL'): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 1;
  g.write(mechanism, 12, 'ascii');
  return g;
}

/** A short frame (flags, 1-byte size, body). */
function shortFrame(flags: number, body: Buffer): Buffer {
  assert.ok(body.length < 256);
  return Buffer.concat([Buffer.from([flags, body.length]), body]);
}

function command(name: string, data: Buffer): Buffer {
  return shortFrame(0x04, Buffer.concat([Buffer.from([name.length]), Buffer.from(name, 'ascii'), data]));
}

function ready(props: Record<string, string>): Buffer {
  const parts = Object.entries(props).map(([k, v]) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(v.length);
    return Buffer.concat([Buffer.from([k.length]), Buffer.from(k, 'ascii'), len, Buffer.from(v, 'latin1')]);
  });
  return command('READY', Buffer.concat(parts));
}

/** A raw TCP peer that reads what the server sends into frames. */
class RawPeer {
  readonly socket: Socket;
  private buf = Buffer.alloc(0);
  greeting: Buffer | undefined;
  readonly frames: { flags: number; body: Buffer }[] = [];
  closed = false;
  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('data', (b) => this.onData(b));
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
  }
  private onData(b: Buffer): void {
    this.buf = Buffer.concat([this.buf, b]);
    if (this.greeting === undefined) {
      if (this.buf.length < 64) return;
      this.greeting = this.buf.subarray(0, 64);
      this.buf = this.buf.subarray(64);
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const flags = this.buf[0]!;
      const long = (flags & 0x02) !== 0;
      const hdr = long ? 9 : 2;
      if (this.buf.length < hdr) return;
      const size = long ? Number(this.buf.readBigUInt64BE(1)) : this.buf[1]!;
      if (this.buf.length < hdr + size) return;
      this.frames.push({ flags, body: this.buf.subarray(hdr, hdr + size) });
      this.buf = this.buf.subarray(hdr + size);
    }
  }
  write(b: Buffer): void {
    this.socket.write(b);
  }
  async handshake(type = 'DEALER'): Promise<void> {
    this.write(Buffer.concat([greetingBytes(), ready({ 'Socket-Type': type, Identity: '' })]));
    await until('the server READY', () => this.frames.length > 0);
  }
  async closedWithin(ms: number): Promise<void> {
    await until('the server to close the connection', () => this.closed, ms);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

describe('ZMTP server on the wire', () => {
  let server: ZeroServer;
  let port: number;
  let client: UntypedZeroClient;
  const reported: unknown[] = [];
  before(async () => {
    server = await ZeroRpc.serve(
      { add: (a: number, b: number) => a + b, echo: (x: unknown) => x },
      { bind: 'tcp://127.0.0.1:*', handshakeTimeout: 500, maxMessageSize: 64 * 1024, onError: (e) => reported.push(e) },
    );
    assert.equal(server.transport, 'zmtp');
    port = Number(/:(\d+)$/.exec(server.endpoints[0]!)![1]);
    client = ZeroRpc.newClient(server.endpoints[0]!, { timeout: 3000 });
  });
  after(async () => {
    await client.$close();
    await server.close(100);
  });

  const stillServing = async () => assert.equal(await client.add(20, 22), 42);
  const lastReport = () => reported[reported.length - 1];

  it('greets as ZMTP 3.1 NULL, sends READY with Socket-Type ROUTER, answers a call', async () => {
    const p = new RawPeer(port);
    await p.handshake();
    const g = p.greeting!;
    assert.equal(g[0], 0xff);
    assert.equal(g[9]! & 1, 1);
    assert.deepEqual([g[10], g[11]], [3, 1]);
    assert.equal(g.toString('ascii', 12, 16), 'NULL');
    assert.ok(g.subarray(16, 32).every((b) => b === 0));
    const r = p.frames[0]!;
    assert.equal(r.flags, 0x04);
    assert.equal(r.body.toString('ascii', 1, 6), 'READY');
    const socketType = Buffer.concat([Buffer.from([11]), Buffer.from('Socket-Type'), Buffer.from([0, 0, 0, 6]), Buffer.from('ROUTER')]);
    assert.ok(r.body.includes(socketType), 'Socket-Type = ROUTER in the READY metadata');
    const id = ids.next();
    p.write(Buffer.concat([shortFrame(0x01, Buffer.alloc(0)), shortFrame(0x00, Buffer.from(encodeEvent({ message_id: id, v: 3 }, 'add', [1, 2])))]));
    await until('the reply', () => p.frames.length >= 3);
    assert.deepEqual(
      p.frames.slice(1).map((f) => f.flags),
      [0x01, 0x00],
      'the empty delimiter with MORE, then the event (the ROUTER strips our identity)',
    );
    assert.equal(p.frames[1]!.body.length, 0);
    const ev = decode(p.frames[2]!.body);
    assert.equal(ev.name, 'OK');
    assert.deepEqual(ev.args, [3]);
    assert.deepEqual(ev.header.response_to, id);
    p.destroy();
  });

  it('answers carry the request id byte for byte, however the server keys it', async () => {
    // Hex-shaped ids with the peer's first tail are kept as their counter and written back from
    // it; another tail, upper-case digits, other lengths and str ids are kept as they came.
    const p = new RawPeer(port);
    await p.handshake();
    const tailA = 'abcdef0123456789abcdef01';
    const sent: (Buffer | string)[] = [
      Buffer.from(`0000002a${tailA}`, 'latin1'),
      Buffer.from(`ffffffff${tailA}`, 'latin1'),
      Buffer.from(`00000007${'9'.repeat(24)}`, 'latin1'),
      Buffer.from(`0000002B${tailA}`, 'latin1'),
      Buffer.from(`0000002b${tailA}`, 'latin1'),
      Buffer.from('short id', 'latin1'),
      'a str id',
    ];
    const frames = sent.map((id, i) => Buffer.concat([shortFrame(0x01, Buffer.alloc(0)), shortFrame(0x00, Buffer.from(encodeEvent({ message_id: id, v: 3 }, 'add', [i, 1])))]));
    p.write(Buffer.concat(frames));
    await until('the replies', () => p.frames.length >= 1 + 2 * sent.length);
    for (let i = 0; i < sent.length; i++) {
      const ev = decode(p.frames[2 + 2 * i]!.body);
      assert.equal(ev.name, 'OK');
      assert.deepEqual(ev.args, [i + 1]);
      assert.deepEqual(ev.header.response_to, sent[i], `reply ${i}`);
    }
    p.destroy();
  });

  it('a PING is answered by a PONG with its context; a flood gets one PONG per loop turn', async () => {
    const p = new RawPeer(port);
    await p.handshake();
    p.write(command('PING', Buffer.concat([Buffer.from([0, 10]), Buffer.from('ctx-1')])));
    await until('the PONG', () => p.frames.length >= 2);
    assert.deepEqual(p.frames[1]!.body, Buffer.concat([Buffer.from([4]), Buffer.from('PONGctx-1')]));
    const ping = command('PING', Buffer.from([0, 10]));
    p.write(Buffer.concat(Array.from({ length: 20_000 }, () => ping)));
    p.write(Buffer.concat([shortFrame(0x01, Buffer.alloc(0)), shortFrame(0x00, Buffer.from(encodeEvent({ message_id: ids.next(), v: 3 }, 'add', [2, 2])))]));
    await until('the reply after the flood', () => p.frames.some((f) => (f.flags & 0x04) === 0 && f.body.length > 0));
    const pongs = p.frames.filter((f) => f.body.toString('latin1', 1, 5) === 'PONG').length;
    assert.ok(pongs >= 2 && pongs < 2_000, `${pongs} PONGs for 20,001 PINGs`);
    assert.equal(p.closed, false);
    p.destroy();
    await stillServing();
  });

  it('garbage instead of a greeting is refused at its first byte', async () => {
    const before = server.counts.refused;
    const p = new RawPeer(port);
    p.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await p.closedWithin(400);
    await until('the report', () => server.counts.refused === before + 1);
    assert.ok(lastReport() instanceof ProtocolError && /signature/.test((lastReport() as Error).message), String(lastReport()));
    await stillServing();
  });

  it('a ZMTP 2 peer is refused', async () => {
    const p = new RawPeer(port);
    const g = greetingBytes();
    g[10] = 1;
    p.write(g.subarray(0, 11));
    await p.closedWithin(400);
    await until('the report', () => /ZMTP 1\.x/.test(String(lastReport())));
  });

  it('a CURVE client (libzmq) gets a clear error, not a hang', async () => {
    const before = server.counts.refused;
    const keys = zmq.curveKeyPair();
    const serverKeys = zmq.curveKeyPair();
    const d = new zmq.Dealer({ linger: 0, curveServerKey: serverKeys.publicKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey });
    d.connect(server.endpoints[0]!);
    await until('the refusal', () => server.counts.refused > before);
    assert.ok(reported.some((e) => e instanceof ProtocolError && /CURVE security mechanism/.test(e.message)));
    d.close();
    await stillServing();
  });

  it('a frame length of 2^63 closes that connection (typed), nothing is allocated', async () => {
    const p = new RawPeer(port);
    await p.handshake();
    p.write(Buffer.from([0x02, 0x80, 0, 0, 0, 0, 0, 0, 0]));
    await p.closedWithin(1000);
    await until('the report', () => lastReport() instanceof FrameTooLargeError);
    await stillServing();
  });

  it('a slow sender trickling its greeting is cut at the handshake timeout', async () => {
    const p = new RawPeer(port);
    const g = greetingBytes();
    const t0 = performance.now();
    for (let i = 0; i < 64 && !p.closed; i++) {
      p.write(g.subarray(i, i + 1));
      await sleep(50);
    }
    assert.ok(p.closed, 'closed before the 64 bytes (3.2 s) were sent');
    const took = performance.now() - t0;
    assert.ok(took >= 400 && took < 3000, `closed after ${Math.round(took)} ms`);
    assert.match(String(lastReport()), /handshake not done after 500 ms/);
    await stillServing();
  });

  it('messages before READY, oversized commands, bad flags and wrong socket types close the connection', async () => {
    const cases: [string, Buffer, RegExp][] = [
      ['a message before READY', Buffer.concat([greetingBytes(), shortFrame(0x00, Buffer.from('hi'))]), /before the handshake/],
      ['a PUB peer', Buffer.concat([greetingBytes(), ready({ 'Socket-Type': 'PUB' })]), /socket type 'PUB'/],
      ['reserved flag bits', Buffer.concat([greetingBytes(), ready({ 'Socket-Type': 'DEALER' }), Buffer.from([0x80, 0])]), /frame flags/],
      ['a 1 MiB command', Buffer.concat([greetingBytes(), Buffer.from([0x06, 0, 0, 0, 0, 0, 0x10, 0, 0])]), /command of 1048576 bytes/],
      ['a message over maxMessageSize', Buffer.concat([greetingBytes(), ready({ 'Socket-Type': 'DEALER' }), Buffer.from([0x02, 0, 0, 0, 0, 0, 0x02, 0, 0])]), /exceeds the limit of 65536/],
    ];
    for (const [what, bytes, re] of cases) {
      const p = new RawPeer(port);
      p.write(bytes);
      await p.closedWithin(1000).catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
      await until(`the report of ${what}`, () => re.test(String(lastReport())), 1000).catch(() => assert.fail(`${what}: reported ${String(lastReport())}`));
    }
    await stillServing();
  });

  it('a large message trickled in small pieces is read whole (long frames both ways)', async () => {
    const p = new RawPeer(port);
    await p.handshake();
    const blob = Buffer.alloc(60_000, 7);
    const event = Buffer.from(encodeEvent({ message_id: ids.next(), v: 3 }, 'echo', [blob]));
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(BigInt(event.length));
    const msg = Buffer.concat([shortFrame(0x01, Buffer.alloc(0)), Buffer.from([0x02]), size, event]);
    for (let i = 0; i < msg.length; i += 500) {
      p.write(msg.subarray(i, i + 500));
      if (i % 10_000 === 0) await sleep(1);
    }
    await until('the reply', () => p.frames.length >= 3);
    assert.equal(p.frames[2]!.flags, 0x02, 'a long frame');
    assert.deepEqual(decode(p.frames[2]!.body).args, [blob]);
    p.destroy();
  });

  it('events of every size, sent together, arrive whole both ways (short and long frames, a grown buffer)', async () => {
    // Encoded in place: a short frame's header is fixed up after, a long one moves its body on.
    const sizes = [0, 1, 200, ...Array.from({ length: 24 }, (_, i) => 190 + i), 4000, 20_000, 60_000, 3];
    const strings = sizes.map((n, i) => String.fromCharCode(97 + (i % 26)).repeat(n));
    const echoed = await Promise.all(strings.map((s) => client.echo(s)));
    assert.deepEqual(echoed, strings);
    await stillServing();
  });

  it('a message split into single bytes is read whole', async () => {
    const p = new RawPeer(port);
    await p.handshake();
    const msg = Buffer.concat([shortFrame(0x01, Buffer.alloc(0)), shortFrame(0x00, Buffer.from(encodeEvent({ message_id: ids.next(), v: 3 }, 'add', [5, 6])))]);
    for (const b of msg) {
      p.write(Buffer.from([b]));
      await sleep(1);
    }
    await until('the reply', () => p.frames.length >= 3);
    assert.deepEqual(decode(p.frames[2]!.body).args, [11]);
    p.destroy();
  });
});

describe('ZMTP client', () => {
  it('a server that is not ZMTP fails the connect with ConnectError, at once', async () => {
    const http = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    const c = ZeroRpc.newClient(`tcp://127.0.0.1:${port}`, { retries: false, connectTimeout: 3000 });
    const t0 = performance.now();
    const err = await c.add(1, 2).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError && /signature/.test(err.message), String(err));
    assert.ok(performance.now() - t0 < 2000);
    await c.$close();
    http.close();
  });

  it('a CURVE server (libzmq) refuses our NULL client with a clear error', async () => {
    const keys = zmq.curveKeyPair();
    const r = new zmq.Router({ linger: 0, curveServer: true, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey });
    await r.bind('tcp://127.0.0.1:*');
    const c = ZeroRpc.newClient(r.lastEndpoint!, { retries: false, connectTimeout: 3000 });
    const err = await c.add(1, 2).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError && /CURVE security mechanism/.test(err.message), String(err));
    await c.$close();
    r.close();
  });

  it('libzmq peers identify themselves: a ROUTER sees our DEALER, our ROUTER routes to an Identity', async () => {
    const server = await ZeroRpc.serve({ add: (a: number, b: number) => a + b }, { bind: 'tcp://127.0.0.1:*', quiet: true });
    const d = new zmq.Dealer({ linger: 0, routingId: 'node-7' });
    d.connect(server.endpoints[0]!);
    await d.send([Buffer.alloc(0), encodeEvent({ message_id: ids.next(), v: 3 }, 'add', [1, 1])]);
    const [empty, payload] = await d.receive();
    assert.equal(empty!.length, 0);
    assert.deepEqual(decode(payload!).args, [2]);
    d.close();
    await server.close(100);
  });

  it('the zeromq module is not loaded when only tcp:// without CURVE is used', () => {
    const script = `
      import { ZeroRpc } from ${JSON.stringify(fileURLToPath(new URL('../../src/protocols/zerorpc/index.ts', import.meta.url)))};
      import { createRequire } from 'node:module';
      const s = await ZeroRpc.serve({ add: (a, b) => a + b }, { bind: 'tcp://127.0.0.1:*', quiet: true });
      const c = ZeroRpc.newClient(s.endpoints[0]);
      const r = await c.add(1, 2);
      await c.$close(); await s.close(10);
      const cache = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ r, zeromq: cache.some((k) => k.includes('/node_modules/zeromq/')) }));
      process.exit(0);
    `;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const line = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as { r?: number; zeromq?: boolean };
    assert.deepEqual(line, { r: 3, zeromq: false }, out.stderr);
  });
});

describe('ZMTP: many messages in one read', () => {
  const request = (i: number) => Buffer.concat([shortFrame(0x01, Buffer.alloc(0)), shortFrame(0x00, Buffer.from(encodeEvent({ message_id: ids.next(), v: 3 }, 'note', [i])))]);

  it('a thousand requests in one write are all answered, in order', async () => {
    const server = await ZeroRpc.serve({ note: (i: number) => i }, { bind: 'tcp://127.0.0.1:*', quiet: true });
    try {
      const p = new RawPeer(Number(/:(\d+)$/.exec(server.endpoints[0]!)![1]));
      await p.handshake();
      p.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => request(i))));
      await until('1,000 replies', () => p.frames.length >= 1 + 2 * 1000);
      const got = p.frames
        .slice(1)
        .filter((_, k) => k % 2 === 1)
        .map((f) => decode(f.body).args);
      assert.deepEqual(
        got,
        Array.from({ length: 1000 }, (_, i) => [i]),
      );
      p.destroy();
    } finally {
      await server.close(100);
    }
  });

  it('requests that arrived with the peer closing its side are all handled', async () => {
    // 300 requests and the FIN in one go: the end of the stream is known while they are being
    // served (and answered in batches of 50); none of them may be dropped.
    const seen: number[] = [];
    const server = await ZeroRpc.serve({ note: (i: number) => void seen.push(i) }, { bind: 'tcp://127.0.0.1:*', quiet: true });
    try {
      for (let round = 0; round < 5; round++) {
        seen.length = 0;
        const p = new RawPeer(Number(/:(\d+)$/.exec(server.endpoints[0]!)![1]));
        await p.handshake();
        p.socket.end(Buffer.concat(Array.from({ length: 300 }, (_, i) => request(i))));
        await p.closedWithin(5000);
        await until('300 requests handled', () => seen.length >= 300, 2000);
        assert.deepEqual(
          seen,
          Array.from({ length: 300 }, (_, i) => i),
        );
      }
    } finally {
      await server.close(100);
    }
  });
});
