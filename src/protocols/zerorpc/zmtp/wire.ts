/**
 * ZMTP 3.1 on the wire (RFC 23/ZMTP, 37/ZMTP): the 64-byte greeting, frames (flags + 1- or
 * 8-byte size + body), and the commands the NULL mechanism uses (READY, ERROR, PING, PONG).
 * Pure functions over bytes; the connection drives them.
 */
import { ProtocolError } from '../../../core/errors.js';

export const GREETING_SIZE = 64;
export const FLAG_MORE = 0x01;
export const FLAG_LONG = 0x02;
export const FLAG_COMMAND = 0x04;

/** Our greeting: signature, version 3.1, mechanism NULL, as-server 0 (NULL ignores it). */
export function greeting(): Buffer {
  const g = Buffer.alloc(GREETING_SIZE);
  g[0] = 0xff;
  g[8] = 0x01; // padding as libzmq sends it (a ZMTP 1.0 peer reads an identity of length 0)
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 1;
  g.write('NULL', 12, 'latin1');
  return g;
}

/**
 * Checks as much of a peer's greeting as has arrived, so garbage is refused at its first bad
 * byte rather than after 64 bytes (or a timeout). Throws ProtocolError.
 */
export function checkGreetingPrefix(g: Buffer, n: number): void {
  if (n >= 1 && g[0] !== 0xff) throw new ProtocolError('not a ZMTP peer: bad greeting signature');
  if (n >= 10 && (g[9]! & 0x01) !== 0x01) throw new ProtocolError('not a ZMTP peer: bad greeting signature');
  if (n >= 11 && g[10]! < 3) throw new ProtocolError(`ZMTP ${g[10]}.x peer: only ZMTP 3.x is spoken (libzmq ≥ 4)`);
}

/** The peer's mechanism name (`NULL`, `PLAIN`, `CURVE`), from a whole greeting. */
export function greetingMechanism(g: Buffer): string {
  let end = 12;
  while (end < 32 && g[end] !== 0) end++;
  return g.toString('latin1', 12, end);
}

/** One frame's header (flags and size) for a body of `size` bytes. */
export function frameHeader(flags: number, size: number): Buffer {
  if (size < 256) {
    const h = Buffer.allocUnsafe(2);
    h[0] = flags;
    h[1] = size;
    return h;
  }
  const h = Buffer.allocUnsafe(9);
  h[0] = flags | FLAG_LONG;
  h.writeUInt32BE(Math.floor(size / 0x1_0000_0000), 1);
  h.writeUInt32BE(size >>> 0, 5);
  return h;
}

/** A whole command frame: name-size, name, body. */
export function commandFrame(name: string, body: Buffer): Buffer {
  const size = 1 + name.length + body.length;
  const h = frameHeader(FLAG_COMMAND, size);
  const out = Buffer.allocUnsafe(h.length + size);
  h.copy(out, 0);
  out[h.length] = name.length;
  out.write(name, h.length + 1, 'latin1');
  body.copy(out, h.length + 1 + name.length);
  return out;
}

/** READY's metadata: name-size(1) name value-size(4) value, repeated. */
export function readyCommand(properties: Readonly<Record<string, Buffer | string>>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, v] of Object.entries(properties)) {
    const value = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
    const p = Buffer.allocUnsafe(1 + name.length + 4);
    p[0] = name.length;
    p.write(name, 1, 'latin1');
    p.writeUInt32BE(value.length, 1 + name.length);
    parts.push(p, value);
  }
  return commandFrame('READY', Buffer.concat(parts));
}

export function errorCommand(reason: string): Buffer {
  const r = Buffer.from(reason.slice(0, 255), 'latin1');
  return commandFrame('ERROR', Buffer.concat([Buffer.from([r.length]), r]));
}

/** A command frame's body split into its name and data. */
export function parseCommand(body: Buffer): { name: string; data: Buffer } {
  const n = body[0];
  if (n === undefined || n === 0 || 1 + n > body.length) throw new ProtocolError('malformed ZMTP command');
  return { name: body.toString('latin1', 1, 1 + n), data: body.subarray(1 + n) };
}

/** READY's properties, names lower-cased (ZMTP names are case-insensitive). */
export function parseMetadata(data: Buffer): Map<string, Buffer> {
  const props = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    const n = data[off]!;
    if (n === 0 || off + 1 + n + 4 > data.length) throw new ProtocolError('malformed ZMTP READY metadata');
    const name = data.toString('latin1', off + 1, off + 1 + n).toLowerCase();
    off += 1 + n;
    const size = data.readUInt32BE(off);
    off += 4;
    if (off + size > data.length) throw new ProtocolError('malformed ZMTP READY metadata');
    props.set(name, data.subarray(off, off + size));
    off += size;
  }
  return props;
}

/** Socket types that may talk to each other (RFC 37, as libzmq checks them). */
const PEERS: Readonly<Record<string, readonly string[]>> = {
  DEALER: ['REP', 'DEALER', 'ROUTER'],
  ROUTER: ['REQ', 'DEALER', 'ROUTER'],
  PUSH: ['PULL'],
  PULL: ['PUSH'],
  PUB: ['SUB', 'XSUB'],
  SUB: ['PUB', 'XPUB'],
};

export function compatible(ours: string, theirs: string): boolean {
  return PEERS[ours]?.includes(theirs) === true;
}
