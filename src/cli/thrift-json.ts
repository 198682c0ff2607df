/**
 * Thrift values to and from JSON for the command line (`scales queue send` / `peek`):
 *   i64          a JSON number, or a string of digits (past 2^53); printed as a number when exact
 *   binary       a base64 string
 *   enum         its name, or its number; printed as its name
 *   set / list   an array
 *   map          an object (keys converted from their text), or an array of [key, value] pairs;
 *                printed as an object when every key is a string or number
 *   struct       an object by field name; unknown fields are refused
 */
import type { FieldDesc, StructDesc, TypeDesc } from '../protocols/thrift/descriptors.js';

export class JsonValueError extends Error {}

function fail(path: string, want: string, v: unknown): never {
  throw new JsonValueError(`${path}: expected ${want}, got ${JSON.stringify(v) ?? String(v)}`);
}

function integer(path: string, v: unknown, bits: number): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) fail(path, `an integer (${bits} bits)`, v);
  const max = 2 ** (bits - 1);
  if (n < -max || n >= max) fail(path, `an integer in [${-max}, ${max - 1}]`, v);
  return n;
}

/** A JSON value as the Thrift value of `t` (the codec's value mapping, docs/thrift.md). */
export function fromJson(t: TypeDesc, v: unknown, path: string): unknown {
  switch (t.kind) {
    case 'bool':
      if (typeof v !== 'boolean') fail(path, 'true or false', v);
      return v;
    case 'byte':
      return integer(path, v, 8);
    case 'i16':
      return integer(path, v, 16);
    case 'i32':
      return integer(path, v, 32);
    case 'i64': {
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      if (typeof v === 'string' && /^-?\d+$/.test(v)) {
        const b = BigInt(v);
        if (b >= -(2n ** 63n) && b < 2n ** 63n) return b;
      }
      return fail(path, 'a 64-bit integer (a number, or a string of digits)', v);
    }
    case 'double':
      if (typeof v !== 'number') fail(path, 'a number', v);
      return v;
    case 'string':
      if (typeof v !== 'string') fail(path, 'a string', v);
      return v;
    case 'binary':
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) fail(path, 'a base64 string', v);
      return Buffer.from(v, 'base64');
    case 'enum': {
      if (typeof v === 'string' && Object.hasOwn(t.values, v)) return t.values[v];
      if (typeof v === 'number' && Object.values(t.values).includes(v)) return v;
      return fail(path, `one of ${t.name}'s names (${Object.keys(t.values).join(', ')})`, v);
    }
    case 'list':
    case 'set': {
      if (!Array.isArray(v)) fail(path, 'an array', v);
      const items = v.map((x, i) => fromJson(t.elem, x, `${path}[${i}]`));
      return t.kind === 'set' ? new Set(items) : items;
    }
    case 'map': {
      const pairs: [unknown, unknown][] = Array.isArray(v)
        ? v.map((p, i) => (Array.isArray(p) && p.length === 2 ? (p as [unknown, unknown]) : fail(`${path}[${i}]`, 'a [key, value] pair', p)))
        : typeof v === 'object' && v !== null
          ? Object.entries(v).map(([k, x]) => [keyFromText(t.key, k), x])
          : fail(path, 'an object or an array of [key, value] pairs', v);
      return new Map(pairs.map(([k, x]) => [fromJson(t.key, k, `${path} key`), fromJson(t.value, x, `${path}[${String(k)}]`)]));
    }
    case 'struct':
      return structFromJson(t.struct(), v, path);
  }
}

/** Object keys are text: a number key of a map<i32, ...> is given as "1". */
function keyFromText(t: TypeDesc, k: string): unknown {
  if (t.kind === 'bool') return k === 'true' ? true : k === 'false' ? false : k;
  if ((t.kind === 'byte' || t.kind === 'i16' || t.kind === 'i32' || t.kind === 'double') && k.trim() !== '' && Number.isFinite(Number(k))) return Number(k);
  return k;
}

export function structFromJson(s: StructDesc, v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `an object (${s.name})`, v);
  const byName = new Map<string, FieldDesc>(s.fields.map((f) => [f.name, f]));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const f = byName.get(k);
    if (f === undefined) throw new JsonValueError(`${path}: ${s.name} has no field '${k}' (fields: ${s.fields.map((g) => g.name).join(', ') || 'none'})`);
    out[k] = fromJson(f.type, x, `${path}.${k}`);
  }
  for (const f of s.fields) if (f.requiredness === 'required' && !(f.name in out)) throw new JsonValueError(`${path}: required field '${f.name}' of ${s.name} is missing`);
  return out;
}

/** A Thrift value as JSON-ready data (see the mapping above). */
export function toJson(t: TypeDesc, v: unknown): unknown {
  if (v === undefined || v === null) return null;
  switch (t.kind) {
    case 'i64': {
      const b = v as bigint;
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
    }
    case 'binary':
      return Buffer.from(v as Uint8Array).toString('base64');
    case 'enum': {
      const name = Object.entries(t.values).find(([, n]) => n === v)?.[0];
      return name ?? v;
    }
    case 'list':
    case 'set':
      return [...(v as Iterable<unknown>)].map((x) => toJson(t.elem, x));
    case 'map': {
      const entries = [...(v as Map<unknown, unknown>)].map(([k, x]) => [toJson(t.key, k), toJson(t.value, x)] as const);
      if (entries.every(([k]) => typeof k === 'string' || typeof k === 'number')) return Object.fromEntries(entries);
      return entries;
    }
    case 'struct': {
      const s = t.struct();
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of s.fields) if (o[f.name] !== undefined) out[f.name] = toJson(f.type, o[f.name]);
      return out;
    }
    default:
      return v;
  }
}
