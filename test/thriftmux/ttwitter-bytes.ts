// The bytes a Finagle plain-Thrift client writes for the TTwitter upgrade, built by hand field by
// field from tracing.thrift (twitter/finagle, finagle-thrift/src/main/thrift/tracing.thrift) and
// TTwitterClientFilter.scala, with no Scales encoder: if our codec reads or writes another layout,
// the tests fail. Strict TBinary throughout, as Finagle writes it.
import type net from 'node:net';

export const UPGRADE = '__can__finagle__trace__v3__';

// TBinary type ids.
const BOOL = 2;
const I32 = 8;
const I64 = 10;
const STRING = 11;
const STRUCT = 12;
const LIST = 15;
export const STOP = Buffer.from([0]);

const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
export const i16 = (v: number): Buffer => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
export const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
};
export const i64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt.asIntN(64, v));
  return b;
};
export const str = (s: string | Buffer): Buffer => {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return cat(i32(bytes.length), bytes);
};
export const field = (type: number, id: number): Buffer => cat(Buffer.from([type]), i16(id));

/** `80 01 00 <type>`, name, seqid: a strict TBinary message header. */
export function messageHead(name: string, type: number, seqid: number): Buffer {
  return cat(Buffer.from([0x80, 0x01, 0x00, type]), str(name), i32(seqid));
}

/** The upgrade call: CALL `__can__finagle__trace__v3__`, an empty ConnectionOptions. */
export function upgradeCall(seqid = 0, body: Buffer = STOP): Buffer {
  return cat(messageHead(UPGRADE, 1, seqid), body);
}

/** Its answer: REPLY, same name and seqid, an empty UpgradeReply. */
export function upgradeReply(seqid = 0): Buffer {
  return cat(messageHead(UPGRADE, 2, seqid), STOP);
}

export interface Header {
  traceId?: bigint;
  spanId?: bigint;
  parentSpanId?: bigint;
  sampled?: boolean;
  clientId?: string;
  flags?: bigint;
  contexts?: readonly (readonly [string | Buffer, Buffer])[];
  dest?: string;
  delegations?: readonly (readonly [string, string])[];
  traceIdHigh?: bigint;
}

/** A RequestHeader, fields in id order as Finagle's generated Java writes them. */
export function requestHeader(h: Header): Buffer {
  const parts: Buffer[] = [];
  if (h.traceId !== undefined) parts.push(field(I64, 1), i64(h.traceId));
  if (h.spanId !== undefined) parts.push(field(I64, 2), i64(h.spanId));
  if (h.parentSpanId !== undefined) parts.push(field(I64, 3), i64(h.parentSpanId));
  if (h.sampled !== undefined) parts.push(field(BOOL, 5), Buffer.from([h.sampled ? 1 : 0]));
  if (h.clientId !== undefined) parts.push(field(STRUCT, 6), field(STRING, 1), str(h.clientId), STOP);
  if (h.flags !== undefined) parts.push(field(I64, 7), i64(h.flags));
  if (h.contexts !== undefined) {
    parts.push(field(LIST, 8), Buffer.from([STRUCT]), i32(h.contexts.length));
    for (const [k, v] of h.contexts) parts.push(field(STRING, 1), str(k), field(STRING, 2), str(v), STOP);
  }
  if (h.dest !== undefined) parts.push(field(STRING, 9), str(h.dest));
  if (h.delegations !== undefined) {
    parts.push(field(LIST, 10), Buffer.from([STRUCT]), i32(h.delegations.length));
    for (const [s, d] of h.delegations) parts.push(field(STRING, 1), str(s), field(STRING, 2), str(d), STOP);
  }
  if (h.traceIdHigh !== undefined) parts.push(field(I64, 11), i64(h.traceIdHigh));
  parts.push(STOP);
  return cat(...parts);
}

/** The fixture EchoService's `echo(1: i64 id, 2: i32 delayMs, 3: string payload)` call. */
export function echoCall(seqid: number, id: bigint, delayMs: number, payload: string, name = 'echo'): Buffer {
  return cat(messageHead(name, 1, seqid), field(I64, 1), i64(id), field(I32, 2), i32(delayMs), field(STRING, 3), str(payload), STOP);
}

/** Its REPLY: `success` (field 0) an EchoReply `{1: i64 id, 2: string payload}`. */
export function echoReply(seqid: number, id: bigint, payload: string): Buffer {
  return cat(messageHead('echo', 2, seqid), field(STRUCT, 0), field(I64, 1), i64(id), field(STRING, 2), str(payload), STOP, STOP);
}

/** Finagle's Deadline context: `timestamp_ns:i64 deadline_ns:i64`. */
export function deadlineContext(nowMs: number, deadlineMs: number): Buffer {
  return cat(i64(BigInt(Math.round(nowMs)) * 1_000_000n), i64(BigInt(Math.round(deadlineMs)) * 1_000_000n));
}

export function framed(m: Buffer): Buffer {
  return cat(i32(m.length), m);
}

/** Resolves once the peer closed the socket (true) or after `ms` (false). */
export function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readyState === 'closed') return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}
