// Hostile Thrift messages, built byte by byte for both wire protocols: valid frames whose
// decoded size is out of all proportion to their length (containers of empty things), and the
// raw-socket helpers that send them. Pure construction: which case is sent where is the tests'.
import net from 'node:net';
import { BufferWriter } from '../../src/core/bytes.js';
import { binaryProtocol, compactProtocol, MessageType } from '../../src/protocols/thrift/index.js';

export type Wire = 'binary' | 'compact';
export type Transport = 'framed' | 'buffered';

const i32be = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const zigzag = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1);

/** Type ids: binary, compact. */
const TYPES = {
  i32: [8, 5],
  struct: [12, 12],
  map: [13, 11],
  set: [14, 10],
  list: [15, 9],
} as const;
const tid = (wire: Wire, t: keyof typeof TYPES): number => TYPES[t][wire === 'binary' ? 0 : 1];

function fieldHeader(wire: Wire, type: keyof typeof TYPES, id: number): number[] {
  if (wire === 'binary') return [tid(wire, type), (id >> 8) & 0xff, id & 0xff];
  // Compact: short form (delta from field 0) when it fits, else the long form.
  return id <= 15 ? [(id << 4) | tid(wire, type)] : [tid(wire, type), ...varint(zigzag(id))];
}

function listHeader(wire: Wire, elem: keyof typeof TYPES, n: number): number[] {
  if (wire === 'binary') return [tid(wire, elem), ...i32be(n)];
  return n < 15 ? [(n << 4) | tid(wire, elem)] : [0xf0 | tid(wire, elem), ...varint(n)];
}

/** A message: header for `method`, then `args` (field bytes without the closing STOP). */
function message(wire: Wire, transport: Transport, method: string, args: Buffer, type: MessageType = MessageType.CALL): Buffer {
  const w = new BufferWriter(64);
  (wire === 'binary' ? binaryProtocol() : compactProtocol()).writeMessageHeader(w, method, type, 1);
  const body = Buffer.concat([w.takeCopy(), args, Buffer.from([0])]);
  if (transport === 'buffered') return body;
  return Buffer.concat([Buffer.from(i32be(body.length)), body]);
}

/** The biggest element count whose frame stays under `maxBytes` at `perElem` bytes each. */
export const fitting = (maxBytes: number, perElem: number): number => Math.floor((maxBytes - 256) / perElem);

/** `method(1: list<Empty>)` (or an unknown field id, to exercise skip): n empty structs, one byte each. */
export function listOfEmpty(wire: Wire, transport: Transport, n: number, method = 'takeList', fieldId = 1): Buffer {
  const head = Buffer.from([...fieldHeader(wire, 'list', fieldId), ...listHeader(wire, 'struct', n)]);
  return message(wire, transport, method, Buffer.concat([head, Buffer.alloc(n)]));
}

/** `takeNested(1: list<list<Empty>>)`: n empty inner lists (1 byte each in compact, 5 in binary). */
export function listOfEmptyLists(wire: Wire, transport: Transport, n: number): Buffer {
  const inner = Buffer.from(listHeader(wire, 'struct', 0));
  const head = Buffer.from([...fieldHeader(wire, 'list', 1), ...listHeader(wire, 'list', n)]);
  return message(wire, transport, 'takeNested', Buffer.concat([head, Buffer.alloc(n * inner.length, inner)]));
}

/** Writes n consecutive numbers from 0 as i32 (binary) or zigzag varints (compact), each followed by `after` bytes. */
function numbers(wire: Wire, n: number, after: number[] = []): Buffer {
  const out = Buffer.allocUnsafe(n * (5 + after.length));
  let pos = 0;
  for (let k = 0; k < n; k++) {
    if (wire === 'binary') {
      out.writeInt32BE(k, pos);
      pos += 4;
    } else {
      let v = zigzag(k);
      while (v >= 0x80) {
        out[pos++] = (v & 0x7f) | 0x80;
        v = Math.floor(v / 128);
      }
      out[pos++] = v;
    }
    for (const b of after) out[pos++] = b;
  }
  return out.subarray(0, pos);
}

/** `takeMap(1: map<i32, Empty>)`: n distinct keys, each to an empty struct. */
export function mapOfEmpty(wire: Wire, transport: Transport, n: number): Buffer {
  const head: number[] = [...fieldHeader(wire, 'map', 1)];
  if (wire === 'binary') head.push(tid(wire, 'i32'), tid(wire, 'struct'), ...i32be(n));
  else head.push(...varint(n), (tid(wire, 'i32') << 4) | tid(wire, 'struct'));
  return message(wire, transport, 'takeMap', Buffer.concat([Buffer.from(head), numbers(wire, n, [0])]));
}

/** `takeSet(1: set<i32>)`: n distinct numbers. */
export function setOfI32(wire: Wire, transport: Transport, n: number): Buffer {
  const head = Buffer.from([...fieldHeader(wire, 'set', 1), ...listHeader(wire, 'i32', n)]);
  return message(wire, transport, 'takeSet', Buffer.concat([head, numbers(wire, n)]));
}

/** A valid call of `method` with one i32 argument (`wait`, `fire`); `type` may lie (ONEWAY). */
export function i32Call(wire: Wire, transport: Transport, method: string, v: number, type: MessageType = MessageType.CALL): Buffer {
  const arg = wire === 'binary' ? [...fieldHeader(wire, 'i32', 1), ...i32be(v)] : [...fieldHeader(wire, 'i32', 1), ...varint(zigzag(v))];
  return message(wire, transport, method, Buffer.from(arg), type);
}

/** A valid `echo(s)` call. */
export function echoCall(wire: Wire, transport: Transport, s: string): Buffer {
  const bytes = Buffer.from(s);
  const len = wire === 'binary' ? i32be(bytes.length) : varint(bytes.length);
  const head = wire === 'binary' ? [11, 0, 1] : [0x18];
  return message(wire, transport, 'echo', Buffer.concat([Buffer.from([...head, ...len]), bytes]));
}

export interface RawOutcome {
  /** The server closed the connection (rather than our timeout ending the wait). */
  closed: boolean;
  received: number;
  ms: number;
}

/**
 * Connects, writes `bytes`, and waits until the server closes the connection or `timeoutMs`
 * passes (or, with `untilAnswer`, until the first bytes of an answer arrive).
 */
export function sendAndWaitClose(port: number, bytes: Buffer, timeoutMs: number, untilAnswer = false): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    let received = 0;
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, received, ms: Date.now() - started });
    }, timeoutMs);
    sock.on('data', (c) => {
      received += c.length;
      if (untilAnswer) {
        clearTimeout(timer);
        sock.destroy();
        resolve({ closed: false, received, ms: Date.now() - started });
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received, ms: Date.now() - started });
    });
  });
}

/**
 * Opens a socket and resolves once it is connected (for floods and idle or slow senders). It
 * reads (and drops) whatever comes, so that a close by the server is seen; errors are ignored.
 */
export function openSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.removeListener('error', reject);
      sock.on('error', () => undefined);
      sock.resume();
      resolve(sock);
    });
    sock.once('error', reject);
  });
}

/** How many of `socks` have closed (by the server, here: the tests never close them first). */
export const closedCount = (socks: readonly net.Socket[]): number => socks.filter((s) => s.closed).length;
