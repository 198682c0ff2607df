/**
 * What the binary and compact codecs share: decode limits, error helpers, and the per-struct
 * compiler. Each StructDesc is compiled once per protocol into a specialised encode and decode
 * function (`new Function`), so field access is by constant key and field dispatch is a switch
 * on the id; containers become inline loops. Nothing is interpreted per value at run time.
 * Primitives and headers are the protocol's own helpers (the `P` table), which V8 inlines.
 */
import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import { InvalidArgumentError, ProtocolError } from '../../core/errors.js';
import type { FieldDesc, MessageType, StructDesc, TypeDesc } from './descriptors.js';
import type { DecodeLimits } from './protocol.js';

export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxDepth: 64,
  maxStringLength: 16 * 1024 * 1024,
  maxContainerSize: 16 * 1024 * 1024,
  maxDecodeFactor: 8,
  decodeBudgetBase: 8 * 1024 * 1024,
});

/**
 * `decodeBudgetBase`, why 8 MiB: compact lists of small i64s or of very short strings cost up to
 * 32 heap bytes per wire byte, and a message of up to about 1 MiB should never be refused for
 * what it holds; a 16 MiB frame still decodes to at most 136 MiB.
 */

/**
 * The limits a protocol instance decodes under, plus the heap budget left for the message being
 * decoded. Decoding is synchronous and never re-entrant, so one counter per protocol instance
 * serves every message; each public read entry point restarts it (`startBudget`).
 */
export interface DecodeState extends DecodeLimits {
  /** Heap bytes the current message may still decode to. */
  budget: number;
  /** What it started with (for the error message). */
  budgetStart: number;
}

export function resolveLimits(partial: Partial<DecodeLimits> | undefined): DecodeState {
  const l: DecodeState = { ...DEFAULT_LIMITS, budget: 0, budgetStart: 0 };
  if (partial) {
    for (const k of ['maxDepth', 'maxStringLength', 'maxContainerSize', 'maxDecodeFactor', 'decodeBudgetBase'] as const) {
      const v = partial[k];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`limits.${k} must be a non-negative integer, got ${String(v)}`);
      l[k] = v;
    }
  }
  return l;
}

/** Nesting an encoder accepts before it calls the value cyclic (decoders use DecodeLimits.maxDepth). */
export const ENCODE_MAX_DEPTH = 1000;

/** Message header arguments are caller input: reject what would write garbage. */
export function checkMessageArgs(name: unknown, type: number, seqid: number): void {
  if (typeof name !== 'string') throw badValue('message name (string)', name);
  if (!(type >= 1 && type <= 4 && (type | 0) === type)) throw badValue('message type (1-4)', type);
  if (typeof seqid !== 'number' || (seqid | 0) !== seqid) throw badValue('seqid (i32)', seqid);
}

export function checkMessageType(type: number): MessageType {
  if (type < 1 || type > 4) throw new ProtocolError(`unknown message type ${type}`);
  return type as MessageType;
}

// ---- errors -------------------------------------------------------------------------------

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  switch (typeof v) {
    case 'string':
      return `string ${JSON.stringify(v.length > 32 ? v.slice(0, 32) + '…' : v)}`;
    case 'number':
      return `number ${v}`;
    case 'bigint':
      return `bigint ${v}`;
    case 'boolean':
      return `boolean ${v}`;
    case 'object':
      return (v as object).constructor?.name ?? 'object';
    default:
      return typeof v;
  }
}

/** Value errors raised below a struct; the nearest struct encoder prefixes `Struct.field: `. */
const needsContext = new WeakSet<InvalidArgumentError>();

export function badValue(expected: string, v: unknown): InvalidArgumentError {
  const e = new InvalidArgumentError(`expected ${expected}, got ${describe(v)}`);
  needsContext.add(e);
  return e;
}

export function tooDeep(limit: number): ProtocolError {
  return new ProtocolError(`nesting deeper than ${limit} levels`);
}

export function unknownType(type: number): ProtocolError {
  return new ProtocolError(`unknown type id ${type}`);
}

export function badSize(what: string, n: number, limit: number): ProtocolError {
  return n < 0 ? new ProtocolError(`negative ${what} ${n}`) : new ProtocolError(`${what} ${n} exceeds the limit of ${limit}`);
}

export function elemMismatch(what: string, wire: number, expected: number): ProtocolError {
  return new ProtocolError(`${what} type ${wire} does not match the declared type ${expected}`);
}

export function encodeTooDeep(): InvalidArgumentError {
  return new InvalidArgumentError(`value nested deeper than ${ENCODE_MAX_DEPTH} levels (a cyclic value?)`);
}

/**
 * Validates a container size and that the remaining bytes could hold `n` elements of at least
 * `minBytes` each. Too few bytes is truncation (BufferUnderflow, so an unframed stream waits for
 * more); nothing is allocated before this passes.
 */
export function checkCount(r: BufferReader, n: number, minBytes: number, L: DecodeLimits): void {
  if (n < 0 || n > L.maxContainerSize) throw badSize('container size', n, L.maxContainerSize);
  r.need(n * minBytes);
}

export function checkStringLength(n: number, L: DecodeLimits): void {
  if (n < 0 || n > L.maxStringLength) throw badSize('string length', n, L.maxStringLength);
}

// ---- the decode budget ----------------------------------------------------------------------

/**
 * What decoding costs, in V8 heap bytes (Node 20, x64, measured with process.memoryUsage() over
 * 10^6 decoded values). A value that takes 1 byte on the wire can cost ~60-190 bytes of heap,
 * so bounding counts by the bytes present is not enough: each message is charged these costs
 * against `maxDecodeFactor` × its size. Skipping is charged as if the value were decoded (it costs
 * CPU per element, and the same budget then bounds both).
 */
export const COST = Object.freeze({
  /** A plain object with up to 4 fields (in-object slots); more fields add `FIELD` each + 16. */
  STRUCT: 56,
  FIELD: 8,
  /** An Error-derived declared exception (captures a stack). */
  EXCEPTION: 512,
  /** A boxed value: i64 (BigInt), double (HeapNumber in an object field or a Set/Map). */
  I64: 24,
  DOUBLE: 16,
  /** A string header; a Buffer (the view and its ArrayBuffer), without their bytes. */
  STRING: 24,
  BINARY: 192,
  LIST: 32,
  LIST_SLOT: 8,
  SET: 152,
  SET_ENTRY: 24,
  MAP: 184,
  MAP_ENTRY: 32,
});

/** Over its decode budget: the message would cost far more heap than its size justifies. */
export class DecodeBudgetError extends ProtocolError {
  constructor(readonly budget: number) {
    super(`message would decode to more than its budget of ${budget} heap bytes (limits.maxDecodeFactor × its size + limits.decodeBudgetBase)`);
  }
}

/** Opens the budget of the message starting at `r.pos` (it can be no larger than what remains). */
export function startBudget(r: BufferReader, L: DecodeState): void {
  L.budget = L.budgetStart = (r.end - r.pos) * L.maxDecodeFactor + L.decodeBudgetBase;
}

export function overBudget(L: DecodeState): DecodeBudgetError {
  return new DecodeBudgetError(L.budgetStart);
}

/** Charges `cost` heap bytes; throws once the message is over its budget. */
export function charge(L: DecodeState, cost: number): void {
  if ((L.budget -= cost) < 0) throw overBudget(L);
}

/**
 * Heap of one value of type `t` beyond its slot, charged with the struct or container holding it
 * (one subtraction for all its fields or elements, none per string on the hot path): boxed
 * i64/double, the string or Buffer header. The bytes of a string or Buffer are not charged: they
 * are at most 2 heap bytes per wire byte (UTF-16 for non-Latin-1 text).
 */
function boxCost(t: TypeDesc, inArray: boolean): number {
  switch (t.kind) {
    case 'i64':
      return COST.I64;
    case 'double':
      return inArray ? 0 : COST.DOUBLE; // arrays of numbers hold doubles unboxed
    case 'string':
      return COST.STRING;
    case 'binary':
      return COST.BINARY;
    default:
      return 0;
  }
}

/** Heap of one decoded struct object of `desc`, before its strings/containers/nested structs. */
export function structCost(desc: StructDesc): number {
  const n = desc.fields.length;
  let c = desc.create ? COST.EXCEPTION : COST.STRUCT;
  if (n > 4) c += 16 + COST.FIELD * (n - 4);
  for (const f of desc.fields) c += boxCost(f.type, false);
  return c;
}

// ---- i64 helpers --------------------------------------------------------------------------

export const I64_MIN = -(2n ** 63n);
export const I64_MAX = 2n ** 63n - 1n;

/** Throws InvalidArgumentError unless `v` is a bigint in the signed 64-bit range. */
export function checkI64(v: unknown): asserts v is bigint {
  if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw badValue('i64 (bigint in signed 64-bit range)', v);
}

// ---- strings ------------------------------------------------------------------------------

const fcc = String.fromCharCode;

/**
 * Short ASCII strings are decoded in JS with a fixed-arity fromCharCode (V8 inlines it): about
 * 3x cheaper than crossing into C++ for a few bytes. Anything else goes through Node's UTF-8
 * decoder, which replaces invalid sequences with U+FFFD exactly as `buf.toString('utf8')` does.
 */
export function decodeUtf8(b: Buffer, p: number, n: number): string {
  if (n > 12) return b.utf8Slice(p, p + n);
  let or = 0;
  for (let i = p, e = p + n; i < e; i++) or |= b[i]!;
  if (or >= 0x80) return b.utf8Slice(p, p + n);
  switch (n) {
    case 0:
      return '';
    case 1:
      return fcc(b[p]!);
    case 2:
      return fcc(b[p]!, b[p + 1]!);
    case 3:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!);
    case 4:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
    case 5:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!);
    case 6:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    case 7:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!);
    case 8:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    case 9:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!);
    case 10:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!);
    case 11:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!);
    default:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!);
  }
}

/**
 * Writes `s` as UTF-8 at `at` (room for 3 bytes per UTF-16 unit must exist); returns the byte
 * count. Short ASCII is copied in JS for the same reason as above.
 */
export function encodeUtf8(buf: Buffer, at: number, s: string): number {
  const len = s.length;
  if (len <= 16) {
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === len) return len;
  }
  return buf.utf8Write(s, at);
}

// ---- the per-struct compiler ------------------------------------------------------------

export type StructEncoder = (w: BufferWriter, v: unknown, depth: number) => void;
export type StructDecoder = (r: BufferReader, depth: number, L: DecodeState) => object;

/**
 * How a protocol spells the wire format, as JS source and helpers for the compiler. Generated
 * code sees: `w`/`r` (writer/reader), `x` (the field value), `t` and `id` (the decoded field
 * header), `d` (depth), `L` (limits) and `P`, the protocol's helper table:
 *   w_<kind>(w, v) / r_<kind>(r, L)        primitives (bool here is the in-container form)
 *   listBegin(w, elemWire, n, d)           list/set header (checks encode depth)
 *   mapBegin(w, keyWire, valueWire, n, d)  map header
 *   listHead(r, elemWire, d, L) → n        list/set header, checked against limits and bytes
 *   mapHead(r, keyWire, valueWire, d, L) → n
 *   wl_<kind>(w, a, d) / rl_<kind>(r, n, L) optional whole-list fast paths for primitive lists
 *   enc(desc) / dec(desc)                  compiled codec of a nested struct
 *   stop(w), skip(r, t, d, L)              field-level skip of wire type `t`
 */
export interface Dialect {
  readonly name: string;
  /** Property keys the compiled encoder/decoder are cached under on each StructDesc. */
  readonly encKey: symbol;
  readonly decKey: symbol;
  readonly P: object;
  /** Wire type id of `t` as a container element (compact: bool is 1). */
  elemWire(t: TypeDesc): number;
  /** Declarations at the top of an encoder (compact: the last field id). */
  readonly encPrologue: string;
  /** Writes the header of field `f` whose value is `x` (never called for bool fields). */
  fieldHeader(f: FieldDesc): string;
  /** Writes header and value of bool field `f` (compact folds the value into the header). */
  boolField(f: FieldDesc): string;
  readonly decPrologue: string;
  /** Reads one field header into `t` and `id`; `break`s out of the loop on STOP. */
  readonly decHead: string;
  /** A condition on `t`: the wire type matches the declared type. */
  match(type: TypeDesc): string;
  /** Expression decoding a bool field value. */
  readonly readBool: string;
}

const PRIMITIVE_KIND: Record<string, string> = {
  bool: 'bool',
  byte: 'byte',
  i16: 'i16',
  i32: 'i32',
  enum: 'i32',
  i64: 'i64',
  double: 'double',
  string: 'string',
  binary: 'binary',
};

/**
 * Compiled codecs are cached on the descriptor itself under a per-protocol symbol (a property
 * load is far cheaper than a WeakMap lookup per message); frozen descriptors use a WeakMap.
 */
const frozenCache = new WeakMap<StructDesc, Map<symbol, StructEncoder | StructDecoder>>();

function remember<F extends StructEncoder | StructDecoder>(desc: StructDesc, sym: symbol, fn: F): F {
  if (Object.isExtensible(desc)) {
    Object.defineProperty(desc, sym, { value: fn, enumerable: false, configurable: true, writable: false });
  } else {
    let byFrozen = frozenCache.get(desc);
    if (byFrozen === undefined) frozenCache.set(desc, (byFrozen = new Map()));
    byFrozen.set(sym, fn);
  }
  return fn;
}

export function encoderFor(dialect: Dialect, desc: StructDesc): StructEncoder {
  const own = (desc as unknown as Record<symbol, StructEncoder | undefined>)[dialect.encKey];
  if (own !== undefined) return own;
  const frozen = frozenCache.get(desc)?.get(dialect.encKey) as StructEncoder | undefined;
  return frozen ?? remember(desc, dialect.encKey, compileEncoder(dialect, desc));
}

export function decoderFor(dialect: Dialect, desc: StructDesc): StructDecoder {
  const own = (desc as unknown as Record<symbol, StructDecoder | undefined>)[dialect.decKey];
  if (own !== undefined) return own;
  const frozen = frozenCache.get(desc)?.get(dialect.decKey) as StructDecoder | undefined;
  return frozen ?? remember(desc, dialect.decKey, compileDecoder(dialect, desc));
}

const key = (name: string): string => JSON.stringify(name);

/** `o[name] = value` that stays an own data property even for `__proto__`. */
function assign(obj: string, name: string, value: string): string {
  return name === '__proto__' ? `Object.defineProperty(${obj}, "__proto__", { value: ${value}, enumerable: true, writable: true, configurable: true });` : `${obj}[${key(name)}] = ${value};`;
}

/**
 * Names an exception object has as an Error without the IDL field being set (`message`, `name`,
 * `stack`, `cause`): an exception's field of such a name is read only when it is an own
 * enumerable property, the way ThriftException sets fields.
 */
const ERROR_OWN = new Set(['message', 'name', 'stack', 'cause']);

function read(obj: string, name: string, exception = false): string {
  if (exception && ERROR_OWN.has(name)) return `(Object.prototype.propertyIsEnumerable.call(${obj}, ${key(name)}) ? ${obj}[${key(name)}] : undefined)`;
  return name === '__proto__' ? `(Object.prototype.hasOwnProperty.call(${obj}, "__proto__") ? ${obj}.__proto__ : undefined)` : `${obj}[${key(name)}]`;
}

/** Name of the protocol's whole-list helper for lists of `elem`, if it has one. */
function listFast(dialect: Dialect, prefix: 'wl_' | 'rl_', elem: TypeDesc): string | undefined {
  const prim = PRIMITIVE_KIND[elem.kind];
  if (prim === undefined) return undefined;
  const name = prefix + prim;
  return typeof (dialect.P as Record<string, unknown>)[name] === 'function' ? name : undefined;
}

/** Per-compile state: unique variable names and the nested-struct slots (`K` thunks, `S` cache). */
class Gen {
  private n = 0;
  readonly structs: TypeDesc[] = [];
  /** The enums this codec writes (`N[i]`), for the check on write. */
  readonly enums: EnumCheck[] = [];

  /** A condition on `x` that holds when it is a value of the enum (`N[i]` is its EnumCheck). */
  enumOk(t: Extract<TypeDesc, { kind: 'enum' }>, x: string): string {
    const check = enumCheck(t);
    const e = this.enums.push(check) - 1;
    // A byte table for small non-negative values: an index load, where Set#has hashes (2x slower).
    return check.table ? `Q${e}[${x}] === 1` : `Q${e}.has(${x})`;
  }

  /** Declarations the compiled function closes over (`Q<i>`: enum tables, loaded once). */
  hoisted(): string {
    return this.enums.map((c, i) => `const Q${i} = N[${i}].${c.table ? 'table' : 'values'};\n`).join('');
  }
  constructor(readonly dialect: Dialect) {}

  v(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  structSlot(t: TypeDesc): number {
    this.structs.push(t);
    return this.structs.length - 1;
  }

  /** Code writing value `x` of type `t` at depth `d + off`. */
  write(t: TypeDesc, x: string, off: number): string {
    const dl = this.dialect;
    if (t.kind === 'enum') {
      const ok = this.enumOk(t, x);
      return `if (!(${ok})) throw H.badEnum(N[${this.enums.length - 1}], ${x});\nP.w_i32(w, ${x});`;
    }
    const prim = PRIMITIVE_KIND[t.kind];
    if (prim !== undefined) return `P.w_${prim}(w, ${x});`;
    switch (t.kind) {
      case 'struct': {
        const s = this.structSlot(t);
        return `(S[${s}] || (S[${s}] = P.enc(K[${s}].struct())))(w, ${x}, d + ${off});`;
      }
      case 'list': {
        const fast = listFast(dl, 'wl_', t.elem);
        if (fast !== undefined) {
          let check = '';
          if (t.elem.kind === 'enum') {
            const [i, e] = [this.v('i'), this.v('e')];
            check = `\nfor (let ${i} = 0; ${i} < ${x}.length; ${i}++) { const ${e} = ${x}[${i}]; if (!(${this.enumOk(t.elem, e)})) throw H.badEnum(N[${this.enums.length - 1}], ${e}); }`;
          }
          return `if (!Array.isArray(${x})) throw H.badValue('list (Array)', ${x});${check}
P.listBegin(w, ${dl.elemWire(t.elem)}, ${x}.length, d + ${off}); P.${fast}(w, ${x});`;
        }
        const [i, n, e] = [this.v('i'), this.v('n'), this.v('e')];
        return `if (!Array.isArray(${x})) throw H.badValue('list (Array)', ${x});
P.listBegin(w, ${dl.elemWire(t.elem)}, ${x}.length, d + ${off});
for (let ${i} = 0, ${n} = ${x}.length; ${i} < ${n}; ${i}++) { const ${e} = ${x}[${i}]; ${this.write(t.elem, e, off + 1)} }`;
      }
      case 'set': {
        const e = this.v('e');
        return `if (!(${x} instanceof Set)) throw H.badValue('set (Set)', ${x});
P.listBegin(w, ${dl.elemWire(t.elem)}, ${x}.size, d + ${off});
for (const ${e} of ${x}) { ${this.write(t.elem, e, off + 1)} }`;
      }
      case 'map': {
        const [k, v] = [this.v('k'), this.v('v')];
        return `if (!(${x} instanceof Map)) throw H.badValue('map (Map)', ${x});
P.mapBegin(w, ${dl.elemWire(t.key)}, ${dl.elemWire(t.value)}, ${x}.size, d + ${off});
for (const [${k}, ${v}] of ${x}) { ${this.write(t.key, k, off + 1)} ${this.write(t.value, v, off + 1)} }`;
      }
    }
    throw new Error(`unknown type kind ${(t as { kind: string }).kind}`);
  }

  /** Code reading a value of type `t` at depth `d + off` into the variable `target`. */
  read(t: TypeDesc, target: string, off: number): string {
    const dl = this.dialect;
    const prim = PRIMITIVE_KIND[t.kind];
    if (prim !== undefined) return `${target} = P.r_${prim}(r, L);`;
    switch (t.kind) {
      case 'struct': {
        const s = this.structSlot(t);
        return `${target} = (S[${s}] || (S[${s}] = P.dec(K[${s}].struct())))(r, d + ${off}, L);`;
      }
      case 'list':
      case 'set': {
        const [i, n, a, e] = [this.v('i'), this.v('n'), this.v('a'), this.v('e')];
        const isList = t.kind === 'list';
        const fast = isList ? listFast(dl, 'rl_', t.elem) : undefined;
        const base = isList ? COST.LIST : COST.SET;
        const per = (isList ? COST.LIST_SLOT : COST.SET_ENTRY) + boxCost(t.elem, isList);
        const head = `const ${n} = P.listHead(r, ${dl.elemWire(t.elem)}, d + ${off}, L); if ((L.budget -= ${base} + ${n} * ${per}) < 0) throw H.overBudget(L);`;
        if (fast !== undefined) return `{ ${head} ${target} = P.${fast}(r, ${n}, L); }`;
        // Lists are allocated at their final size (the count is already checked against the
        // bytes left): growing one from [] reallocates its backing store and leaves the spare
        // capacity behind: ~4x slower at 10^6 elements, and 10-20 % slower to build and read
        // at 3-100 in isolation (bench/mux-paths.ts: -8 ns a call for the echo's list of 10).
        return `{ ${head} const ${a} = ${isList ? `new Array(${n})` : 'new Set()'};
for (let ${i} = 0; ${i} < ${n}; ${i}++) { let ${e}; ${this.read(t.elem, e, off + 1)} ${isList ? `${a}[${i}] = ${e};` : `${a}.add(${e});`} }
${target} = ${a}; }`;
      }
      case 'map': {
        const [i, n, m, k, v] = [this.v('i'), this.v('n'), this.v('m'), this.v('k'), this.v('v')];
        const per = COST.MAP_ENTRY + boxCost(t.key, false) + boxCost(t.value, false);
        return `{ const ${n} = P.mapHead(r, ${dl.elemWire(t.key)}, ${dl.elemWire(t.value)}, d + ${off}, L);
if ((L.budget -= ${COST.MAP} + ${n} * ${per}) < 0) throw H.overBudget(L); const ${m} = new Map();
for (let ${i} = 0; ${i} < ${n}; ${i}++) { let ${k}, ${v}; ${this.read(t.key, k, off + 1)} ${this.read(t.value, v, off + 1)} ${m}.set(${k}, ${v}); }
${target} = ${m}; }`;
      }
    }
    throw new Error(`unknown type kind ${(t as { kind: string }).kind}`);
  }
}

interface EnumCheck {
  readonly name: string;
  readonly values: ReadonlySet<number>;
  /** `table[v] === 1` for each value, when all values are in [0, 1024). */
  readonly table?: Uint8Array;
}

/** Built once per enum type descriptor and shared by every codec that writes it. */
const enumChecks = new WeakMap<object, EnumCheck>();

function enumCheck(t: Extract<TypeDesc, { kind: 'enum' }>): EnumCheck {
  let c = enumChecks.get(t);
  if (c) return c;
  const values = new Set(Object.values(t.values));
  const small = [...values].every((v) => Number.isInteger(v) && v >= 0 && v < 1024);
  let table: Uint8Array | undefined;
  if (small) {
    table = new Uint8Array(Math.max(0, ...values) + 1);
    for (const v of values) table[v] = 1;
  }
  c = table ? { name: t.name, values, table } : { name: t.name, values };
  enumChecks.set(t, c);
  return c;
}

const SHARED = {
  badValue,
  badEnum(e: EnumCheck, v: unknown): InvalidArgumentError {
    const valid = [...e.values].sort((a, b) => a - b).slice(0, 20);
    return badValue(`a value of enum ${e.name} (${valid.join(', ')}${e.values.size > valid.length ? ', ...' : ''})`, v);
  },
  badStruct(name: string, v: unknown): InvalidArgumentError {
    return badValue(`struct ${name} (an object)`, v);
  },
  encodeTooDeep(name: string): InvalidArgumentError {
    return new InvalidArgumentError(`${name}: nested deeper than ${ENCODE_MAX_DEPTH} levels (a cyclic value?)`);
  },
  missing(struct: string, field: string): InvalidArgumentError {
    return new InvalidArgumentError(`${struct}.${field} is required but has no value`);
  },
  missingOnRead(struct: string, field: string): ProtocolError {
    return new ProtocolError(`${struct}.${field} is required but absent from the input`);
  },
  unionCount(struct: string, n: number): InvalidArgumentError {
    return new InvalidArgumentError(`union ${struct} must have exactly one field set, got ${n}`);
  },
  /** Names the struct and field in a value error raised below it; other errors pass unchanged. */
  annotate(e: unknown, struct: string, field: string): unknown {
    if (!(e instanceof InvalidArgumentError) || !needsContext.has(e)) return e;
    return new InvalidArgumentError(`${struct}.${field}: ${e.message}`);
  },
  tooDeep,
  overBudget,
};

function compileEncoder(dialect: Dialect, desc: StructDesc): StructEncoder {
  const g = new Gen(dialect);
  const union = desc.kind === 'union';
  const lines: string[] = [
    `if (typeof v !== 'object' || v === null) throw H.badStruct(NAME, v);`,
    `if (d > ${ENCODE_MAX_DEPTH}) throw H.encodeTooDeep(NAME);`,
    `let x, f = '', n = 0;`,
    dialect.encPrologue,
    `try {`,
  ];
  desc.fields.forEach((fd, i) => {
    const write = fd.type.kind === 'bool' ? dialect.boolField(fd) : `${dialect.fieldHeader(fd)}\n${g.write(fd.type, 'x', 1)}`;
    lines.push(`f = ${key(fd.name)}; x = ${read('v', fd.name, desc.kind === 'exception')};`);
    if (union) {
      lines.push(`if (x !== undefined && x !== null) { n++; ${write} }`);
    } else if (fd.defaultValue !== undefined) {
      lines.push(`if (x === undefined || x === null) x = D[${i}]();`, write);
    } else if (fd.requiredness === 'required') {
      lines.push(`if (x === undefined || x === null) throw H.missing(NAME, f);`, write);
    } else {
      lines.push(`if (x !== undefined && x !== null) { ${write} }`);
    }
  });
  lines.push(`} catch (e) { throw H.annotate(e, NAME, f); }`);
  if (union) lines.push(`if (n !== 1) throw H.unionCount(NAME, n);`);
  lines.push(`P.stop(w);`);
  const src = `${g.hoisted()}return function encode_${ident(desc.name)}(w, v, d) {\n${lines.join('\n')}\n};`;
  return build(src, g, desc) as StructEncoder;
}

function compileDecoder(dialect: Dialect, desc: StructDesc): StructDecoder {
  const g = new Gen(dialect);
  const fields = desc.fields;
  const lines: string[] = [`if (d > L.maxDepth) throw H.tooDeep(L.maxDepth);`, `if ((L.budget -= ${structCost(desc)}) < 0) throw H.overBudget(L);`];
  if (fields.length > 0) lines.push(`let ${fields.map((_, i) => `f${i}`).join(', ')};`);
  lines.push(`let t, id;`, dialect.decPrologue, `for (;;) {`, dialect.decHead, `switch (id) {`);
  fields.forEach((fd, i) => {
    const readCode = fd.type.kind === 'bool' ? `f${i} = ${dialect.readBool};` : g.read(fd.type, `f${i}`, 1);
    lines.push(`case ${fd.id}: if (${dialect.match(fd.type)}) { ${readCode} continue; } break;`);
  });
  lines.push(`}`, `P.skip(r, t, d + 1, L);`, `}`);
  if (desc.kind !== 'union') {
    fields.forEach((fd, i) => {
      if (fd.requiredness === 'required') lines.push(`if (f${i} === undefined) throw H.missingOnRead(NAME, ${key(fd.name)});`);
      else if (fd.requiredness === 'default' && fd.defaultValue !== undefined) lines.push(`if (f${i} === undefined) f${i} = D[${i}]();`);
    });
  }
  lines.push(`const o = {};`);
  for (const [i, fd] of fields.entries()) lines.push(`if (f${i} !== undefined) ${assign('o', fd.name, `f${i}`)}`);
  lines.push(desc.create ? `return C(o);` : `return o;`);
  const src = `return function decode_${ident(desc.name)}(r, d, L) {\n${lines.join('\n')}\n};`;
  return build(src, g, desc) as StructDecoder;
}

function ident(name: string): string {
  return name.replace(/[^A-Za-z0-9_$]/g, '_');
}

function build(src: string, g: Gen, desc: StructDesc): unknown {
  const defaults = desc.fields.map((f) => f.defaultValue);
  const structSlots: unknown[] = g.structs.map(() => undefined);
  // Compiled once per struct and protocol; all names in the source are JSON-quoted.
  const factory = new Function('P', 'H', 'D', 'K', 'S', 'C', 'NAME', 'N', src) as (...a: unknown[]) => unknown;
  return factory(g.dialect.P, SHARED, defaults, g.structs, structSlots, desc.create, desc.name, g.enums);
}
