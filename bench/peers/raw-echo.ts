/**
 * The ceiling for the RPC benchmarks: a raw length-prefixed TCP echo with no codec and no stack.
 * Frame: u32 size, u32 call id, payload. The server echoes each chunk's whole frames back in one
 * write; the client writes the frames of one event-loop turn straight into one batch buffer and
 * sends it in one `socket.write`, flushed by setImmediate as Scales' connections do (a microtask
 * flush runs mid-wave: several small writes). Waiting callers sit in an array by recycled id. A
 * lean client, so that it is a fair ceiling: before it made a Buffer per call, kept callers in a
 * Map and joined the turn's frames with Buffer.concat.
 */
import net from 'node:net';

/** Starts the echo server; resolves with its port. */
export async function serveRawEcho(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (buf.length - at >= 4) {
        const size = buf.readUInt32BE(at);
        if (buf.length - at < 4 + size) break;
        at += 4 + size;
      }
      // Every whole frame of this chunk goes back in one write: an echo needs no decoding.
      if (at > 0) socket.write(buf.subarray(0, at));
      pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A client: `call(payload)` resolves with the echoed payload; writes are flushed once per event-loop turn. */
export interface RawEchoClient {
  call(payload: Buffer): Promise<Buffer>;
  close(): void;
}

export async function connectRawEcho(port: number): Promise<RawEchoClient> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  // Waiting callers by id: an array with recycled ids (dense, no Map), as a lean RPC keeps them.
  const waiting: (((b: Buffer) => void) | undefined)[] = [];
  const freeIds: number[] = [];
  let nextId = 0;
  // Frames are written straight into one batch buffer (no Buffer per call), sent once per turn.
  let out = Buffer.allocUnsafe(64 * 1024);
  let outPos = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = Buffer.allocUnsafe(outPos);
    out.copy(batch, 0, 0, outPos);
    outPos = 0;
    socket.write(batch);
  };
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (buf.length - at >= 8) {
      const size = buf.readUInt32BE(at);
      if (buf.length - at < 4 + size) break;
      const id = buf.readUInt32BE(at + 4);
      const done = waiting[id];
      waiting[id] = undefined;
      freeIds.push(id);
      done?.(buf.subarray(at + 8, at + 4 + size));
      at += 4 + size;
    }
    pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
  });
  return {
    call(payload) {
      const id = freeIds.length > 0 ? freeIds.pop()! : nextId++;
      const n = 8 + payload.length;
      if (outPos + n > out.length) {
        const bigger = Buffer.allocUnsafe(Math.max(2 * out.length, outPos + n));
        out.copy(bigger, 0, 0, outPos);
        out = bigger;
      }
      out.writeUInt32BE(4 + payload.length, outPos);
      out.writeUInt32BE(id, outPos + 4);
      payload.copy(out, outPos + 8);
      outPos += n;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return new Promise((resolve) => {
        waiting[id] = resolve;
      });
    },
    close: () => socket.destroy(),
  };
}
