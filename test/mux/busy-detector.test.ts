// The failure detector's 'busy' verdict against scripted raw-socket Mux servers: a server whose
// Rping is late (but that still answers calls) gets no new calls while another node is open, and
// gets them again once its Rping arrives; the session is never closed for it.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { describe, test } from 'node:test';
import { BufferWriter } from '../../src/core/bytes.js';
import { TINIT_CHECK_MESSAGE } from '../../src/protocols/mux/handshake.js';
import { WindowedMax } from '../../src/protocols/mux/pinger.js';
import { MuxType } from '../../src/protocols/mux/types.js';
import { binaryProtocol } from '../../src/protocols/thrift/binary.js';
import { MessageType } from '../../src/protocols/thrift/descriptors.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import { EchoService } from '../fixtures/echo-service.js';
import { frameOf, type FrameReader, scriptedServer, tagOf, typeOf } from './raw-peer.js';

const echo = EchoService.methods['echo']!;

function sized(m: Buffer): Buffer {
  const out = Buffer.alloc(4 + m.length);
  out.writeUInt32BE(m.length, 0);
  m.copy(out, 4);
  return out;
}

/** `Rdispatch OK` for tag carrying echo's reply with this payload. */
function reply(tag: number, payload: string): Buffer {
  const w = new BufferWriter(64);
  const binary = binaryProtocol();
  binary.writeMessageHeader(w, 'echo', MessageType.REPLY, 0);
  binary.writeStruct(w, echo.result, { success: { id: 1n, payload } });
  return sized(Buffer.concat([Buffer.from([0xfe, tag >> 16, (tag >> 8) & 0xff, tag & 0xff, 0, 0, 0]), w.takeCopy()]));
}

interface Node {
  port: number;
  /** Resolves when the ping numbered `n` (from 1) arrived. */
  ping(n: number): Promise<void>;
  /** Answers the held ping. */
  release(): void;
  close(): void;
}

/** A Mux server named `name` that answers calls with its name; its ping number `holdPing` is held until release(). */
async function node(name: string, holdPing: number): Promise<Node> {
  let pings = 0;
  const waiters = new Map<number, () => void>();
  let socketRef: net.Socket | undefined;
  let held = false;
  const server = await scriptedServer(async (socket, reader: FrameReader) => {
    socketRef = socket;
    assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE);
    socket.write(sized(TINIT_CHECK_MESSAGE));
    await reader.next(); // Tinit
    socket.write(frameOf({ type: 'Rinit', tag: 1, version: 1, headers: [] }));
    for (;;) {
      const f = await reader.next(60_000).catch(() => undefined);
      if (f === undefined) return;
      if (typeOf(f) === MuxType.Tping) {
        pings++;
        if (pings === holdPing) held = true;
        else socket.write(frameOf({ type: 'Rping', tag: 1 }));
        waiters.get(pings)?.();
      } else if (typeOf(f) === MuxType.Tdispatch) socket.write(reply(tagOf(f), name));
    }
  });
  return {
    port: server.port,
    ping: (n) => (pings >= n ? Promise.resolve() : new Promise((r) => waiters.set(n, r))),
    release: () => {
      if (held) socketRef?.write(frameOf({ type: 'Rping', tag: 1 }));
      held = false;
    },
    close: () => {
      socketRef?.destroy();
      server.close();
    },
  };
}

describe('the failure detector marks a session busy while its ping is late', () => {
  test('calls avoid a node whose Rping is late and come back when it arrives; no reconnect', async () => {
    const a = await node('a', Infinity);
    const b = await node('b', 2); // b holds its second ping
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${a.port},127.0.0.1:${b.port}`, {
      loadBalancer: 'p2c',
      pingInterval: 200,
      pingTimeout: 20_000,
      retries: false,
      failureAccrual: false,
    });
    try {
      const spread = async (n: number): Promise<Map<string, number>> => {
        const m = new Map<string, number>();
        for (let i = 0; i < n; i++) {
          const r = await client.echo(1n, 0, 'x');
          m.set(r.payload, (m.get(r.payload) ?? 0) + 1);
        }
        return m;
      };
      // Open both sessions (p2c picks at random: keep calling until both have answered).
      for (let i = 0; i < 200 && (await spread(20)).size < 2; i++);
      await b.ping(2);
      await new Promise((r) => setTimeout(r, 100)); // well past the 10 ms floor
      const whileLate = await spread(20);
      b.release();
      await new Promise((r) => setTimeout(r, 50));
      const after = await spread(40);
      assert.ok((whileLate.get('b') ?? 0) <= 2, `b got ${whileLate.get('b') ?? 0} of 20 calls while its ping was late`);
      assert.ok((after.get('b') ?? 0) >= 1, `b got none of 40 calls after its Rping came (${JSON.stringify([...after])})`);
    } finally {
      await client.$close();
      a.close();
      b.close();
    }
  });

  test('WindowedMax keeps the largest of the last N values', () => {
    const w = new WindowedMax(3);
    assert.equal(w.value, 0);
    w.add(5);
    w.add(1);
    w.add(2);
    assert.equal(w.value, 5);
    w.add(1); // 5 leaves the window
    assert.equal(w.value, 2);
    w.add(9);
    assert.equal(w.value, 9);
    w.add(0);
    w.add(0);
    assert.equal(w.value, 9);
    w.add(0); // 9 leaves
    assert.equal(w.value, 0);
  });
});
