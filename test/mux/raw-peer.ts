// A scripted Mux peer over a raw socket: writes frames byte for byte and reads whole frames back,
// so tests see exactly what our client or server put on the wire.
import assert from 'node:assert/strict';
import net from 'node:net';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { encodeMessage, type MuxMessage } from '../../src/protocols/mux/wire.js';

export function frameOf(msg: MuxMessage): Buffer {
  const w = new BufferWriter(64);
  w.writeU32(0);
  encodeMessage(w, msg);
  w.buf.writeUInt32BE(w.pos - 4, 0);
  return w.takeCopy();
}

/** Frames (without the size) read from a socket, in order; `next()` waits for the next one. */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private waiter: ((f: Buffer | undefined) => void) | undefined;
  ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const n = this.buf.readUInt32BE(0);
        this.push(this.buf.subarray(4, 4 + n));
        this.buf = this.buf.subarray(4 + n);
      }
    });
    const end = () => {
      this.ended = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.(undefined);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => {});
  }

  private push(f: Buffer): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w(f);
    } else this.frames.push(f);
  }

  /** The next frame, or undefined once the peer closed; rejects after `ms`. */
  next(ms = 3000): Promise<Buffer | undefined> {
    const f = this.frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no frame within ${ms} ms`));
      }, ms);
      this.waiter = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }

  /** Frames until one satisfies `pred` (the others are returned too, in order). */
  async until(pred: (f: Buffer) => boolean, ms = 3000): Promise<Buffer[]> {
    const seen: Buffer[] = [];
    for (;;) {
      const f = await this.next(ms);
      if (f === undefined) throw new Error(`peer closed before the expected frame (saw types ${seen.map((s) => s.readInt8(0)).join(',')})`);
      seen.push(f);
      if (pred(f)) return seen;
    }
  }
}

export function connectRaw(port: number): Promise<{ socket: net.Socket; reader: FrameReader }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve({ socket, reader: new FrameReader(socket) }));
    socket.once('error', reject);
  });
}

/** A one-connection scripted server: `script` runs with the accepted socket. */
export async function scriptedServer(script: (socket: net.Socket, reader: FrameReader) => Promise<void>): Promise<{ port: number; done: Promise<void>; close(): void }> {
  let finish!: (e?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => (finish = (e) => (e === undefined ? resolve() : reject(e))));
  const server = net.createServer((socket) => {
    script(socket, new FrameReader(socket)).then(
      () => finish(),
      (e) => finish(e),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    done,
    close: () => {
      server.close();
    },
  };
}

export const typeOf = (f: Buffer): number => f.readInt8(0);
export const tagOf = (f: Buffer): number => f.readUIntBE(1, 3);

/** A reader at the Thrift message of an `Rdispatch OK` frame (type, tag), its status and contexts skipped. */
export function rdispatchThrift(f: Buffer): BufferReader {
  assert.equal(typeOf(f), -2, `type ${typeOf(f)} (want Rdispatch)`);
  assert.equal(f[4], 0, `Rdispatch status ${f[4]} (0 is OK)`);
  const r = new BufferReader(f);
  r.pos = 5;
  const n = r.buf.readInt16BE(r.pos);
  r.pos += 2;
  for (let i = 0; i < 2 * n; i++) r.pos += 2 + r.buf.readInt16BE(r.pos);
  return r;
}
