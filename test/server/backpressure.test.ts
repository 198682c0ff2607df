// A client that sends calls as fast as it can and never reads the answers must not make the server
// buffer without bound: the server stops reading while its writes are blocked, so the client's
// own writes block. Once the client reads, every answer arrives and the server reads again.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { GateService, Gates, MessageType, rawCall } from './gate-service.js';

const MiB = 1024 * 1024;

test('a client that never reads gets its writes blocked; the server keeps a bounded buffer', async () => {
  const errors: unknown[] = [];
  const server = await Thrift.serve(GateService, new Gates().handler(), { onError: (e) => errors.push(e) });
  const sock = net.connect(server.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.pause(); // never read the answers
  const payload = 'x'.repeat(64 * 1024);
  const budget = 256 * MiB; // without backpressure the server would read all of it
  let sent = 0;
  let calls = 0;
  const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
  let peakServerSide = 0;
  let stopped = false;
  // Write while the socket takes it; stop once it has refused for 500 ms (the server stopped reading).
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < budget) {
        const msg = rawCall('echo', MessageType.CALL, (calls % 1000) + 1, payload);
        sent += msg.length;
        calls++;
        if (!sock.write(msg)) {
          const timer = setTimeout(() => {
            stopped = true;
            resolve();
          }, 500);
          sock.once('drain', () => {
            clearTimeout(timer);
            if (stopped) return;
            peakServerSide = Math.max(peakServerSide, process.memoryUsage().arrayBuffers - arrayBuffersBefore);
            pump();
          });
          return;
        }
      }
      resolve();
    };
    pump();
  });
  const growth = process.memoryUsage().arrayBuffers - arrayBuffersBefore;
  assert.ok(sent < 64 * MiB, `the client was blocked after ${(sent / MiB).toFixed(1)} MiB (of ${budget / MiB} MiB it tried)`);
  assert.ok(growth < 96 * MiB && peakServerSide < 96 * MiB, `buffers grew ${(growth / MiB).toFixed(1)} MiB`);
  assert.equal(server.connections, 1, 'the connection is still open (not closed for overflowing its write buffer)');
  assert.deepEqual(errors, []);

  // Now read: every answer arrives (the server resumes reading once its writes flow).
  const answered = await new Promise<number>((resolve) => {
    let bytes = 0;
    let frames = 0;
    let need = 4;
    let inFrame = false;
    const expectedFrames = calls;
    sock.on('data', (d: Buffer) => {
      bytes += d.length;
      // Count frames by their length prefixes, across chunk boundaries.
      let pos = 0;
      let buf = d;
      while (pos < buf.length) {
        if (!inFrame) {
          const take = Math.min(need, buf.length - pos);
          header = Buffer.concat([header, buf.subarray(pos, pos + take)]);
          pos += take;
          need -= take;
          if (need === 0) {
            need = header.readUInt32BE(0);
            header = Buffer.alloc(0);
            inFrame = true;
          }
        } else {
          const take = Math.min(need, buf.length - pos);
          pos += take;
          need -= take;
          if (need === 0) {
            frames++;
            inFrame = false;
            need = 4;
            if (frames === expectedFrames) resolve(frames);
          }
        }
      }
      buf = Buffer.alloc(0);
      void bytes;
    });
    let header = Buffer.alloc(0);
    sock.resume();
  });
  assert.equal(answered, calls, 'every call was answered');
  sock.destroy();
  await server.close(500);
});
