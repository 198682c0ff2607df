// A reply that is read after the call's deadline fails the call as a timeout: the event loop was
// blocked past the deadline, so the deadline timer could not fire first, and when the loop runs
// again it reads the reply before it runs timers.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { TimeoutError } from '../../src/core/errors.js';
import { BinaryProtocol } from '../../src/protocols/thrift/binary.js';
import { encodeApplicationException } from '../../src/protocols/thrift/application-exception.js';
import { MessageType, Thrift } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';

const echo = EchoService.methods['echo']!;

function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // the event loop is blocked: no timer can fire
  }
}

let server: net.Server;
let port: number;

before(async () => {
  // A raw Thrift server: answers each echo call after `delayMs`, then blocks the whole process
  // (client included) for `payload` ms right after writing the reply to the socket.
  server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.on('data', (chunk) => {
      const r = new BufferReader(chunk, 4);
      const { seqid } = BinaryProtocol.readMessageHeader(r);
      const args = BinaryProtocol.readStruct(r, echo.args) as { id: bigint; delayMs: number; payload: string };
      setTimeout(() => {
        const w = new BufferWriter(128);
        w.writeBytes(Buffer.alloc(4));
        if (args.id < 0n) {
          // A negative id asks for a failure instead of a reply.
          BinaryProtocol.writeMessageHeader(w, 'echo', MessageType.EXCEPTION, seqid);
          encodeApplicationException(BinaryProtocol, w, 6, 'internal error, late');
        } else {
          BinaryProtocol.writeMessageHeader(w, 'echo', MessageType.REPLY, seqid);
          BinaryProtocol.writeStruct(w, echo.result, { success: { id: args.id, payload: 'late' } });
        }
        const out = w.takeCopy();
        out.writeUInt32BE(out.length - 4, 0);
        sock.write(out); // on loopback this reaches the client's socket at once
        busyWait(Number(args.payload));
      }, args.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('a reply read after the deadline rejects with TimeoutError', async () => {
  const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${port}`, { timeout: 300 });
  try {
    // Warm the connection so the call below is only the reply race.
    await assert.rejects(
      client.echo(1n, 0, '0').then(() => Promise.reject(new Error('sentinel'))),
      /sentinel/,
    );
    const started = Date.now();
    // Reply written at ~100 ms, then the loop is blocked until ~700 ms: past the 300 ms deadline.
    await assert.rejects(client.echo(2n, 100, '600'), TimeoutError);
    assert.ok(Date.now() - started >= 600);
  } finally {
    await client.$close();
  }
});

test('so does a failure read after the deadline', async () => {
  const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${port}`, { timeout: 300, retries: false });
  try {
    await assert.rejects(client.echo(-1n, 0, '0'), /internal error, late/);
    await assert.rejects(client.echo(-2n, 100, '600'), TimeoutError);
  } finally {
    await client.$close();
  }
});

test('a reply read before the deadline still succeeds', async () => {
  const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${port}`, { timeout: 2000 });
  try {
    const reply = await client.echo(3n, 50, '100');
    assert.equal(reply.id, 3n);
  } finally {
    await client.$close();
  }
});
