import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { BufferReader } from '../../src/core/bytes.js';
import { ConnectionClosedError, FrameTooLargeError, OverloadedError, ReadTimeoutError, type ScalesError } from '../../src/core/errors.js';
import { Connection, listenTcp, setReadSplit, type ConnectionOptions, type TcpListener } from '../../src/transport/index.js';

const framing = { kind: 'length-prefixed' } as const;
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

function frame(payload: Buffer | string): Buffer {
  const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, b]);
}

function send(conn: Connection, payload: Buffer | string): void {
  const mark = conn.beginMessage();
  conn.writer.writeBytes(typeof payload === 'string' ? Buffer.from(payload) : payload);
  conn.endMessage(mark);
}

/** Resolves with onClose's argument. */
function closed(conn: Connection): Promise<ScalesError | undefined> {
  return new Promise((resolve) => (conn.onClose = resolve));
}

/** Our Connection on the server side, a raw socket as the peer (so tests control the exact bytes). */
async function serverWithRawPeer(opts: Partial<ConnectionOptions> = {}): Promise<{ conn: Connection; raw: net.Socket; listener: TcpListener }> {
  let conn!: Connection;
  const accepted = new Promise<void>((resolve) => {
    void listenTcp({
      onConnection: (socket) => {
        conn = new Connection(socket, { framing, ...opts });
        resolve();
      },
    }).then((l) => {
      listener = l;
      raw = net.connect({ port: l.port, host: '127.0.0.1', allowHalfOpen: true });
    });
  });
  let listener!: TcpListener;
  let raw!: net.Socket;
  await accepted;
  return { conn, raw, listener };
}

/** Collects everything the raw peer reads. */
function collect(raw: net.Socket): { bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  raw.on('data', (c: Buffer) => chunks.push(c));
  return { bytes: () => Buffer.concat(chunks) };
}

function frames(bytes: Buffer): string[] {
  const out: string[] = [];
  const r = new BufferReader(bytes);
  while (r.remaining > 0) out.push(r.readUtf8(r.readU32()));
  return out;
}

test('frames written byte by byte arrive whole; many frames in one chunk arrive as views', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const got: Buffer[] = [];
  conn.onMessage = (m) => got.push(m);
  const wire = Buffer.concat([frame('hello'), frame(''), frame('x'.repeat(70))]);
  for (let i = 0; i < wire.length; i++) {
    raw.write(wire.subarray(i, i + 1));
    await tick(); // let each byte arrive on its own
  }
  while (got.length < 3) await tick(1);
  assert.deepEqual(got.map(String), ['hello', '', 'x'.repeat(70)]);

  got.length = 0;
  raw.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(`m${i}`))));
  while (got.length < 1000) await tick(1);
  assert.deepEqual(
    got.map(String),
    Array.from({ length: 1000 }, (_, i) => `m${i}`),
  );
  const backing = new Set(got.map((m) => m.buffer));
  assert.ok(backing.size <= 4, `1000 frames shared ${backing.size} chunk buffers (views, not copies)`);
  // Messages are safe to keep: more traffic does not overwrite them.
  raw.write(Buffer.concat(Array.from({ length: 1000 }, () => frame('zz'))));
  while (got.length < 2000) await tick(1);
  assert.equal(String(got[999]), 'm999');
  conn.close();
  raw.destroy();
  await listener.close();
});

test('readAt: every message of one socket read carries the time that read arrived', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const seen: { msg: string; readAt: number; at: number }[] = [];
  conn.onMessage = (m) => seen.push({ msg: String(m), readAt: conn.readAt, at: performance.now() });
  const before = performance.now();
  raw.write(Buffer.concat([frame('a'), frame('b'), frame('c')]));
  while (seen.length < 3) await tick(1);
  await tick(20);
  raw.write(frame('d'));
  while (seen.length < 4) await tick(1);
  assert.deepEqual(
    seen.map((s) => s.msg),
    ['a', 'b', 'c', 'd'],
  );
  for (const s of seen) assert.ok(s.readAt >= before && s.readAt <= s.at, `${s.msg}: read at ${s.readAt}, delivered at ${s.at}`);
  // One read carried a, b and c (sent in one write on loopback); d came 20 ms later in another.
  assert.equal(new Set(seen.slice(0, 3).map((s) => s.readAt)).size, 1);
  assert.ok(seen[3]!.readAt - seen[0]!.readAt >= 19);
  conn.close();
  raw.destroy();
  await listener.close();
});

test('a 4 GiB length prefix closes the connection at once without allocating it', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const before = process.memoryUsage().arrayBuffers;
  const done = closed(conn);
  const t0 = Date.now();
  raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  const err = await done;
  assert.ok(err instanceof FrameTooLargeError, String(err));
  assert.equal(err.size, 0xffffffff);
  assert.equal(err.limit, 16 * 1024 * 1024);
  assert.ok(err.endpoint?.startsWith('127.0.0.1:'));
  assert.ok(Date.now() - t0 < 1000);
  assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024, 'no big allocation');
  assert.equal(conn.closed, true);
  await once(raw, 'end'); // the peer sees the connection go away
  raw.destroy();
  await listener.close();
});

test('read limit: a frame exactly at maxFrameSize passes, one byte more closes', async () => {
  const { conn, raw, listener } = await serverWithRawPeer({ maxFrameSize: 1000 });
  const got: Buffer[] = [];
  conn.onMessage = (m) => got.push(m);
  const done = closed(conn);
  raw.write(frame(Buffer.alloc(1000, 1)));
  while (got.length < 1) await tick(1);
  assert.equal(got[0]!.length, 1000);
  raw.write(frame(Buffer.alloc(1001, 1)));
  const err = await done;
  assert.ok(err instanceof FrameTooLargeError && err.size === 1001 && err.limit === 1000, String(err));
  assert.equal(got.length, 1);
  raw.destroy();
  await listener.close();
});

test('write limit: an oversized message is rolled back and the connection stays usable', async () => {
  const { conn, raw, listener } = await serverWithRawPeer({ maxFrameSize: 100 });
  const peer = collect(raw);
  send(conn, 'before');
  assert.throws(
    () => send(conn, Buffer.alloc(101)),
    (e: unknown) => e instanceof FrameTooLargeError && e.size === 101,
  );
  send(conn, Buffer.alloc(100, 0x61));
  const mark = conn.beginMessage();
  conn.writer.writeUtf8('half-encoded');
  conn.abortMessage(mark);
  send(conn, 'after');
  await tick(30);
  assert.deepEqual(frames(peer.bytes()), ['before', 'a'.repeat(100), 'after']);
  assert.equal(conn.closed, false);
  conn.close();
  raw.destroy();
  await listener.close();
});

/** Counts the socket writes a Connection makes (the batching under test), on the real socket. */
function countWrites(conn: Connection): { writes: number } {
  const socket = (conn as unknown as { socket: net.Socket }).socket;
  const counted = { writes: 0 };
  const write = socket.write.bind(socket) as (b: Buffer) => boolean;
  socket.write = ((b: Buffer) => (counted.writes++, write(b))) as typeof socket.write;
  return counted;
}

test('batching: 1000 messages written in one turn go out in one socket.write', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const peer = collect(raw);
  const counted = countWrites(conn);
  for (let i = 0; i < 1000; i++) send(conn, `n${i}`);
  assert.equal(counted.writes, 0, 'nothing written synchronously');
  await tick(30);
  assert.equal(counted.writes, 1);
  // A later turn is a new batch.
  send(conn, 'later');
  await tick(30);
  assert.equal(counted.writes, 2);
  // Replies written across several promise waves of one turn (async handlers) share a write too.
  send(conn, 'w0');
  void Promise.resolve().then(() => send(conn, 'w1'));
  void Promise.resolve()
    .then(() => null)
    .then(() => send(conn, 'w2'));
  await tick(30);
  assert.equal(counted.writes, 3);
  assert.deepEqual(frames(peer.bytes()), [...Array.from({ length: 1000 }, (_, i) => `n${i}`), 'later', 'w0', 'w1', 'w2']);
  conn.close();
  raw.destroy();
  await listener.close();
});

test('flush hold: answers to reads that arrive while held join the batch; the hold is bounded', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const peer = collect(raw);
  const counted = countWrites(conn);
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  conn.onMessage = (m) => send(conn, `re-${m}`);

  // The peer sends its next frame whenever the batch is held (as a busy peer's answers keep
  // coming): each read's answer joins the held batch; after 4 held turns it goes out anyway.
  let asked = 0;
  let pinged = 0;
  conn.holdFlush = () => {
    asked++;
    raw.write(frame(`p${pinged++}`));
    return true;
  };
  raw.write(frame('start'));
  await tick(50);
  assert.deepEqual(frames(peer.bytes()), ['re-start', 're-p0', 're-p1', 're-p2', 're-p3']);
  assert.equal(counted.writes, 1, 'five answers, read over five turns, in one write');
  assert.equal(asked, 4, 'held 4 turns, then written although the hold still said yes');
  assert.equal(conn.batchedMessages, 0, 'everything went out');

  // Nothing arriving: held one turn, then written (no spinning on a quiet connection).
  counted.writes = 0;
  asked = 0;
  conn.holdFlush = () => (asked++, true);
  send(conn, 'quiet');
  for (let i = 0; i < 4; i++) await turn();
  await tick(10);
  assert.equal(counted.writes, 1);
  assert.equal(asked, 1, 'asked once; without a read since, the next flush writes');

  // A batch of 64 KiB or more goes out at once: holding big messages would only walk the buffer
  // toward maxWriteBufferBytes.
  counted.writes = 0;
  asked = 0;
  send(conn, Buffer.alloc(64 * 1024, 0x62));
  await turn();
  await turn();
  assert.equal(counted.writes, 1, 'written at the first flush');
  assert.equal(asked, 0, 'the session was not even asked');
  send(conn, 'small');
  await tick(10);
  assert.equal(asked, 1, 'a small batch is held again');

  // end() writes a held batch before the FIN.
  send(conn, 'last');
  const ended = once(raw, 'end');
  void conn.end();
  await ended;
  assert.deepEqual(frames(peer.bytes()).slice(-4), ['quiet', 'b'.repeat(64 * 1024), 'small', 'last']);
  conn.close();
  raw.destroy();
  await listener.close();
});

test('backpressure: a peer that does not read → writableNeedsDrain, then OverloadedError; flow resumes when it reads', async () => {
  const limit = 4 * 1024 * 1024;
  const { conn, raw, listener } = await serverWithRawPeer({ maxWriteBufferBytes: limit });
  raw.pause();
  const payload = Buffer.alloc(16 * 1024, 0x62);
  let sent = 0;
  let sawDrainWait = false;
  let overloaded: unknown;
  // 64 messages per turn, so the socket really gets to push back between turns.
  for (let turn = 0; turn < 2000 && overloaded === undefined; turn++) {
    for (let i = 0; i < 64; i++) {
      try {
        send(conn, payload);
        sent++;
      } catch (err) {
        overloaded = err;
        break;
      }
    }
    sawDrainWait ||= conn.writableNeedsDrain;
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(overloaded instanceof OverloadedError, String(overloaded));
  assert.ok(sawDrainWait, 'the socket asked us to wait for drain');
  assert.ok(conn.bufferedWriteBytes <= limit);
  assert.equal(conn.closed, false);

  // The peer reads everything; the connection drains and takes new messages.
  let received = 0;
  let pending = Buffer.alloc(0);
  raw.on('data', (c: Buffer) => {
    pending = Buffer.concat([pending, c]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      pending = pending.subarray(4 + pending.readUInt32BE(0));
      received++;
    }
  });
  raw.resume();
  while (received < sent) await tick(5);
  assert.equal(conn.writableNeedsDrain, false);
  send(conn, payload);
  while (received < sent + 1) await tick(5);
  assert.equal(received, sent + 1, 'rolled-back message was never sent');
  conn.close();
  raw.destroy();
  await listener.close();
});

test('peer closing mid-frame → ConnectionClosedError naming the partial frame', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const done = closed(conn);
  raw.write(Buffer.concat([frame('whole'), Buffer.from([0, 0, 0, 100]), Buffer.alloc(10)]));
  raw.end();
  const err = await done;
  assert.ok(err instanceof ConnectionClosedError, String(err));
  assert.match(err.message, /partial frame of 14 bytes/);
  assert.ok(err.endpoint !== undefined);
  await listener.close();
});

test('a socket error (peer reset) → ConnectionClosedError with the cause', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const done = closed(conn);
  raw.resetAndDestroy();
  const err = await done;
  assert.ok(err instanceof ConnectionClosedError, String(err));
  assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNRESET');
  await listener.close();
});

test('half-close: the peer sends a request then FIN and still gets the reply; end() closes cleanly', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const peer = collect(raw);
  const requests: string[] = [];
  conn.onMessage = (m) => requests.push(String(m));
  let ended: Promise<void> | undefined;
  conn.onPeerEnd = () => {
    // Reply after the FIN, as a server finishing in-flight work does.
    setTimeout(() => {
      for (const r of requests) send(conn, `re:${r}`);
      ended = conn.end();
    }, 20);
  };
  const done = closed(conn);
  raw.end(Buffer.concat([frame('q1'), frame('q2')]));
  await once(raw, 'end');
  assert.deepEqual(frames(peer.bytes()), ['re:q1', 're:q2']);
  assert.equal(await done, undefined, 'clean close');
  await ended;
  assert.throws(() => conn.beginMessage(), ConnectionClosedError);
  await listener.close();
});

test('client: default onPeerEnd closes cleanly when the server half-closes; end() resolves when fully closed', async () => {
  const l = await listenTcp({
    onConnection: (s) => {
      s.end(frame('bye'));
      s.resume();
    },
  });
  const conn = await Connection.connect('127.0.0.1', l.port, { framing });
  assert.equal(conn.endpoint, `127.0.0.1:${l.port}`);
  const got: string[] = [];
  conn.onMessage = (m) => got.push(String(m));
  assert.equal(await closed(conn), undefined);
  assert.deepEqual(got, ['bye']);
  await conn.end();
  await l.close(100);
});

test('end() with no peer FIN is bounded by its deadline', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  raw.resume(); // reads, but never ends its side
  const done = closed(conn);
  const t0 = Date.now();
  await conn.end(100);
  assert.ok(Date.now() - t0 >= 90);
  assert.equal(await done, undefined);
  raw.destroy();
  await listener.close();
});

test('pauseReading stops delivery mid-chunk; resume delivers the rest, then the peer FIN', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const got: string[] = [];
  let peerEnded = false;
  conn.onMessage = (m) => {
    got.push(String(m));
    if (got.length === 3) conn.pauseReading();
  };
  conn.onPeerEnd = () => (peerEnded = true);
  raw.end(Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(`c${i}`))));
  await tick(50);
  assert.equal(got.length, 3);
  assert.equal(peerEnded, false, 'FIN waits behind the buffered frames');
  conn.resumeReading();
  await tick(50);
  assert.deepEqual(
    got,
    Array.from({ length: 10 }, (_, i) => `c${i}`),
  );
  assert.equal(peerEnded, true);
  assert.equal(conn.closed, false);
  await conn.end();
  await listener.close();
});

test('read split (experiment): a read is delivered K messages at a time, with a flush between; FIN and pauses wait', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  const peer = collect(raw);
  const got: string[] = [];
  /** How many messages had been delivered when each message's continuation (a microtask) ran. */
  const seenByContinuation: number[] = [];
  let peerEnded = false;
  conn.onMessage = (m) => {
    const msg = String(m);
    got.push(msg);
    queueMicrotask(() => {
      seenByContinuation.push(got.length);
      send(conn, `re-${msg}`); // what a continuation writes goes out before the rest is read
    });
    if (msg === 'c4') {
      conn.pauseReading(); // a session's own pause inside a split part
      setImmediate(() => conn.resumeReading());
    }
  };
  conn.onPeerEnd = () => (peerEnded = true);
  setReadSplit(3);
  try {
    raw.end(Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(`c${i}`))));
    for (let i = 0; i < 400 && !peerEnded; i++) await tick(5);
  } finally {
    setReadSplit(0);
  }
  assert.deepEqual(
    got,
    Array.from({ length: 10 }, (_, i) => `c${i}`),
  );
  // The continuations of c0..c2 ran before c3 was delivered, and so on (without the split: all at 10).
  assert.deepEqual(seenByContinuation.slice(0, 3), [3, 3, 3]);
  assert.ok(seenByContinuation[3]! < 10, `continuations of the second part ran after ${seenByContinuation[3]} messages`);
  assert.equal(conn.closed, false, 'the FIN waited for the buffered whole frames: no partial-frame error');
  await tick(20);
  assert.deepEqual(
    frames(peer.bytes()),
    Array.from({ length: 10 }, (_, i) => `re-c${i}`),
  );
  await conn.end();
  await listener.close();
});

test('measured framing over a socket: messages split across chunks, measurer BufferUnderflow waits', async () => {
  const reader = new BufferReader(Buffer.alloc(0));
  const { conn, raw, listener } = await serverWithRawPeer({
    framing: {
      kind: 'measured',
      measure(buf, start, end) {
        reader.buf = buf;
        reader.pos = start;
        reader.end = end;
        reader.skip(reader.readU32());
        return reader.pos - start;
      },
    },
    maxFrameSize: 64,
  });
  const got: Buffer[] = [];
  conn.onMessage = (m) => got.push(m);
  const wire = Buffer.concat([frame('one'), frame('two'), frame('three')]);
  raw.write(wire.subarray(0, 5));
  await tick(10);
  raw.write(wire.subarray(5, 13));
  await tick(10);
  raw.write(wire.subarray(13));
  while (got.length < 3) await tick(1);
  assert.deepEqual(
    got.map((m) => String(m.subarray(4))),
    ['one', 'two', 'three'],
  );
  const done = closed(conn);
  raw.write(frame(Buffer.alloc(100))); // 104 bytes, no complete message within 64
  const err = await done;
  assert.ok(err instanceof FrameTooLargeError, String(err));
  raw.destroy();
  await listener.close();
});

test('onClose fires exactly once; writes after close fail', async () => {
  const { conn, raw, listener } = await serverWithRawPeer();
  let calls = 0;
  conn.onClose = () => calls++;
  conn.close();
  conn.close();
  raw.destroy();
  await tick(30);
  assert.equal(calls, 1);
  assert.throws(() => conn.beginMessage(), ConnectionClosedError);
  await conn.end(); // resolves: already closed
  await listener.close();
});

/** u32-length messages found by a measurer that costs `ms` per call (a big message full of small elements). */
function costlyMeasured(ms: number): { framing: ConnectionOptions['framing']; calls: () => number } {
  const reader = new BufferReader(Buffer.alloc(0));
  let calls = 0;
  return {
    calls: () => calls,
    framing: {
      kind: 'measured',
      measure(buf, start, end) {
        calls++;
        const until = performance.now() + ms;
        while (performance.now() < until);
        reader.buf = buf;
        reader.pos = start;
        reader.end = end;
        reader.skip(reader.readU32());
        return reader.pos - start;
      },
    },
  };
}

for (const finish of ['quiet', 'half-close'] as const) {
  test(`measured framing: a message whose last measure was put off is delivered once the peer goes ${finish === 'quiet' ? 'quiet' : 'silent with a FIN'}`, async () => {
    const m = costlyMeasured(1);
    const { conn, raw, listener } = await serverWithRawPeer({ framing: m.framing });
    const got: Buffer[] = [];
    conn.onMessage = (msg) => got.push(msg);
    let peerEnded = false;
    conn.onPeerEnd = () => {
      peerEnded = true;
      void conn.end();
    };
    const errors: unknown[] = [];
    conn.onClose = (err) => err && errors.push(err);
    const wire = frame(Buffer.alloc(40_000, 7));
    for (let off = 0; off < wire.length - 1; off += 1000) {
      raw.write(wire.subarray(off, Math.min(off + 1000, wire.length - 1)));
      await tick(2);
    }
    const measuresBeforeLast = m.calls();
    assert.ok(measuresBeforeLast < 20, `${measuresBeforeLast} measures for 40 chunks: no longer one per chunk once they cost 2 ms`);
    raw.write(wire.subarray(wire.length - 1)); // one byte: the message does not double, its measure is put off
    if (finish === 'half-close') raw.end();
    const started = performance.now();
    while (got.length === 0 && performance.now() - started < 2000) await tick(1);
    assert.equal(got.length, 1, 'delivered without another chunk');
    assert.equal(got[0]!.length, wire.length);
    if (finish === 'half-close') {
      while (!peerEnded && performance.now() - started < 2000) await tick(1);
      assert.ok(peerEnded, 'the FIN after a whole message is a clean half-close');
    }
    assert.deepEqual(errors, []);
    raw.destroy();
    await listener.close();
  });
}

test('read timeout: a partial frame closes the connection with ReadTimeoutError; time paused does not count', async () => {
  const { conn, raw, listener } = await serverWithRawPeer({ frameTimeoutMs: 500 });
  const got: string[] = [];
  conn.onMessage = (m) => {
    got.push(String(m));
    if (got.length === 1) conn.pauseReading(); // the server stops reading after the first message
  };
  const done = closed(conn);
  const second = frame('second');
  raw.write(Buffer.concat([frame('first'), second.subarray(0, 5)]));
  await tick(1200); // over twice the timeout, but the server is not reading
  assert.equal(conn.closed, false, 'a pause is not the peer being slow');
  conn.resumeReading();
  await tick(50);
  raw.write(second.subarray(5));
  await tick(50);
  assert.deepEqual(got, ['first', 'second']);

  const started = performance.now();
  raw.write(frame('third').subarray(0, 6));
  const err = await done;
  const ms = performance.now() - started;
  assert.ok(err instanceof ReadTimeoutError, String(err));
  assert.equal(err.code, 'SCALES_ERR_TIMEOUT');
  assert.ok(ms >= 450 && ms < 3000, `closed ${ms.toFixed(0)} ms after the partial frame began`);
  raw.destroy();
  await listener.close();
});
