/**
 * The ceiling for the RPC benchmarks: a raw length-prefixed TCP echo with no codec and no stack.
 * Frame: u32 size, u32 call id, payload. The server echoes each chunk's whole frames back in one
 * write; the client gathers the calls of one event-loop turn into one `socket.write`, flushed by
 * setImmediate as Scales' connections do (a microtask flush runs mid-wave: several small writes).
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
  const waiting = new Map<number, (b: Buffer) => void>();
  let nextId = 0;
  let out: Buffer[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const frames = out;
    out = [];
    socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  };
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (buf.length - at >= 8) {
      const size = buf.readUInt32BE(at);
      if (buf.length - at < 4 + size) break;
      const id = buf.readUInt32BE(at + 4);
      const done = waiting.get(id);
      waiting.delete(id);
      done?.(buf.subarray(at + 8, at + 4 + size));
      at += 4 + size;
    }
    pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
  });
  return {
    call(payload) {
      const id = nextId++ >>> 0;
      const frame = Buffer.allocUnsafe(8 + payload.length);
      frame.writeUInt32BE(4 + payload.length, 0);
      frame.writeUInt32BE(id, 4);
      payload.copy(frame, 8);
      out.push(frame);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close: () => socket.destroy(),
  };
}
