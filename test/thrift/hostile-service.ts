// A service whose arguments (and results) hold every container kind, and hand-made frames that
// fill one of them with the cheapest elements each protocol can spell: what a hostile peer sends
// to make a small frame decode to a large heap. Built byte by byte (encoding 16M values with the
// codec would itself need gigabytes).
import { BufferWriter } from '../../src/core/bytes.js';
import { binaryProtocol, compactProtocol, MessageType, T, type ServiceDesc, type StructDesc, type ThriftProtocol } from '../../src/protocols/thrift/index.js';

const Empty: StructDesc = { name: 'Empty', kind: 'struct', fields: [] };

/** Field id, name and type of each hostile case; the same fields form `take`'s args and `give`'s result. */
export const FIELDS = [
  { id: 1, name: 'structs', type: T.list(T.struct(() => Empty)) },
  {
    id: 2,
    name: 'maps',
    type: T.map(
      T.i32,
      T.struct(() => Empty),
    ),
  },
  { id: 3, name: 'lists', type: T.list(T.list(T.i32)) },
  { id: 4, name: 'bools', type: T.list(T.bool) },
  { id: 5, name: 'ints', type: T.set(T.i32) },
  { id: 6, name: 'blobs', type: T.list(T.binary) },
  { id: 7, name: 'strs', type: T.list(T.string) },
  { id: 8, name: 'blob', type: T.binary },
  { id: 9, name: 'nums', type: T.list(T.i32) },
  { id: 10, name: 'longs', type: T.list(T.i64) },
  { id: 11, name: 'mapmaps', type: T.map(T.i32, T.map(T.i32, T.i32)) },
] as const;

export type HostileKind = (typeof FIELDS)[number]['name'] | 'skipped';

const Payload: StructDesc = {
  name: 'Payload',
  kind: 'struct',
  fields: FIELDS.map((f) => ({ id: f.id, name: f.name, type: f.type, requiredness: 'optional' as const })),
};

export interface HostileClient {
  take(...args: unknown[]): Promise<number>;
  give(kind: number): Promise<Record<string, unknown>>;
}

export const HostileService: ServiceDesc<HostileClient, Record<string, (...a: unknown[]) => unknown>> = {
  name: 'Hostile',
  methods: {
    take: {
      name: 'take',
      oneway: false,
      params: FIELDS.map((f) => f.name),
      args: { ...Payload, name: 'take_args' },
      result: { name: 'take_result', kind: 'struct', fields: [{ id: 0, name: 'success', type: T.i32, requiredness: 'optional' }] },
    },
    give: {
      name: 'give',
      oneway: false,
      params: ['kind'],
      args: { name: 'give_args', kind: 'struct', fields: [{ id: 1, name: 'kind', type: T.i32, requiredness: 'default' }] },
      result: { name: 'give_result', kind: 'struct', fields: [{ id: 0, name: 'success', type: T.struct(() => Payload), requiredness: 'optional' }] },
    },
  },
};

/** Counts what `take` received, so a test sees legit payloads arrive whole. */
export function countArgs(...args: unknown[]): number {
  let n = 0;
  for (const a of args.slice(0, FIELDS.length)) {
    if (a instanceof Uint8Array) n += a.length;
    else if (Array.isArray(a)) n += a.length;
    else if (a instanceof Set || a instanceof Map) n += a.size;
  }
  return n;
}

export type ProtocolName = 'binary' | 'compact';

export const protocols: Record<ProtocolName, ThriftProtocol> = { binary: binaryProtocol(), compact: compactProtocol() };

const zz = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0;

function varint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** `n` copies of the byte pattern returned by `elem(i)`; a constant pattern is filled natively. */
function repeat(n: number, elem: number[] | ((i: number, out: number[]) => void)): Buffer {
  if (Array.isArray(elem)) return n === 0 ? Buffer.alloc(0) : Buffer.alloc(n * elem.length).fill(Buffer.from(elem));
  const w = new BufferWriter(n * 6 + 16);
  const tmp: number[] = [];
  for (let i = 0; i < n; i++) {
    tmp.length = 0;
    elem(i, tmp);
    w.writeBytes(Buffer.from(tmp));
  }
  return w.takeCopy();
}

const i32be = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/** One field (id `id`) of kind `kind` holding `n` of its cheapest elements, as `p` spells it. */
function field(p: ProtocolName, kind: Exclude<HostileKind, 'skipped'>, id: number, n: number): Buffer {
  const bin = p === 'binary';
  // Binary: type byte + i16 id. Compact: long form (type, zigzag varint id) so any id works.
  const fh = (binType: number, cType: number): number[] => {
    if (bin) return [binType, 0, id];
    const out = [cType];
    varint(out, zz(id));
    return out;
  };
  const list = (binType: number, elemBin: number, elemC: number): number[] => {
    if (bin) return [...fh(binType, 0), elemBin, ...i32be(n)];
    const out = [...fh(0, binType === 14 ? 10 : 9), 0xf0 | elemC];
    varint(out, n);
    return out;
  };
  const map = (kBin: number, vBin: number, kC: number, vC: number): number[] => {
    if (bin) return [...fh(13, 0), kBin, vBin, ...i32be(n)];
    const out = fh(0, 11);
    varint(out, n);
    if (n > 0) out.push((kC << 4) | vC);
    return out;
  };
  const key = (i: number, out: number[]): void => {
    if (bin) out.push(...i32be(i));
    else varint(out, zz(i));
  };
  let head: number[];
  let body: Buffer;
  switch (kind) {
    case 'structs':
      head = list(15, 12, 12);
      body = repeat(n, [0]);
      break;
    case 'maps':
      head = map(8, 12, 5, 12);
      body = repeat(n, (i, out) => {
        key(i, out);
        out.push(0);
      });
      break;
    case 'lists':
      head = list(15, 15, 9);
      body = repeat(n, bin ? [8, 0, 0, 0, 0] : [0x05]);
      break;
    case 'bools':
      head = list(15, 2, 1);
      body = repeat(n, [1]);
      break;
    case 'ints':
      head = list(14, 8, 5);
      body = repeat(n, key);
      break;
    case 'blobs':
    case 'strs':
      head = list(15, 11, 8);
      body = repeat(n, bin ? [0, 0, 0, 0] : [0]);
      break;
    case 'blob': {
      head = bin ? [...fh(11, 0), ...i32be(n)] : fh(0, 8);
      if (!bin) varint(head, n);
      body = Buffer.alloc(n, 0x61);
      break;
    }
    case 'nums':
      head = list(15, 8, 5);
      body = repeat(n, key);
      break;
    case 'longs':
      head = list(15, 10, 6);
      body = repeat(n, bin ? [0, 0, 0, 0, 0, 0, 0, 0] : [0]);
      break;
    case 'mapmaps':
      head = map(8, 13, 5, 11);
      body = repeat(n, (i, out) => {
        key(i, out);
        if (bin) out.push(8, 8, 0, 0, 0, 0);
        else out.push(0);
      });
      break;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/**
 * A struct body holding one hostile field: `kind` with `n` elements, under its own field id
 * (or, for 'skipped', a list of `n` empty structs under id 99, which the decoder must skip).
 */
export function hostileStruct(p: ProtocolName, kind: HostileKind, n: number): Buffer {
  const f = kind === 'skipped' ? field(p, 'structs', 99, n) : field(p, kind, FIELDS.find((x) => x.name === kind)!.id, n);
  return Buffer.concat([f, Buffer.from([0])]);
}

/** A whole framed message: header + `body` (a struct), with the 4-byte length prefix. */
export function framedMessage(p: ProtocolName, name: string, type: number, seqid: number, body: Buffer): Buffer {
  const w = new BufferWriter(64);
  protocols[p].writeMessageHeader(w, name, type as MessageType, seqid);
  const head = w.takeCopy();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length + body.length);
  return Buffer.concat([len, head, body]);
}

/** A `take` call whose args hold one hostile field. */
export function hostileCall(p: ProtocolName, kind: HostileKind, n: number, seqid = 1): Buffer {
  return framedMessage(p, 'take', MessageType.CALL, seqid, hostileStruct(p, kind, n));
}

/** A REPLY to `give` whose result (field 0, a Payload) holds one hostile field. */
export function hostileReply(p: ProtocolName, kind: HostileKind, n: number, seqid: number): Buffer {
  const payload = hostileStruct(p, kind, n);
  const head = p === 'binary' ? [12, 0, 0] : [0x0c, 0]; // field 0 struct (compact long form: type 12, zigzag id 0)
  return framedMessage(p, 'give', MessageType.REPLY, seqid, Buffer.concat([Buffer.from(head), payload, Buffer.from([0])]));
}
