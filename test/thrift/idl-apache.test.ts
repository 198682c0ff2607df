/**
 * Cross-checks loadIdl() against the reference Apache Thrift compiler (`thrift --gen json`): field
 * ids (including implicit negative ones), requiredness, types through typedefs, enum numbering,
 * default values, constants and service functions must agree. Skipped when `thrift` is absent.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FieldDesc, StructDesc, TypeDesc } from '../../src/protocols/thrift/descriptors.js';
import { loadIdlSync, type IdlModule } from '../../src/protocols/thrift/idl/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const hasThrift = spawnSync('thrift', ['--version']).status === 0;
const out = mkdtempSync(path.join(tmpdir(), 'scales-apache-'));
after(() => rmSync(out, { recursive: true, force: true }));

interface AType {
  typeId: string;
  class?: string;
  elemTypeId?: string;
  elemType?: AType;
  keyTypeId?: string;
  keyType?: AType;
  valueTypeId?: string;
  valueType?: AType;
}
interface AField extends AType {
  key: number;
  name: string;
  type?: AType;
  required: string;
  default?: unknown;
}
interface AStruct {
  name: string;
  isUnion: boolean;
  isException: boolean;
  fields: AField[];
}
interface ADoc {
  enums: { name: string; members: { name: string; value: number }[] }[];
  structs: AStruct[];
  constants: { name: string; value: unknown }[];
  services: { name: string; extends?: string; functions: { name: string; oneway: boolean; returnTypeId: string; returnType?: AType; arguments: AField[]; exceptions: AField[] }[] }[];
}

function apache(file: string, includeDirs: string[] = []): Record<string, ADoc> {
  const dir = mkdtempSync(path.join(out, 'gen-'));
  const args = ['-r', '--gen', 'json', ...includeDirs.flatMap((d) => ['-I', d]), '-out', dir, file];
  const r = spawnSync('thrift', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const docs: Record<string, ADoc> = {};
  for (const name of ['rich', 'shared', 'edge', 'base', 'ThriftTest', 'ConstantsDemo']) {
    try {
      docs[name] = JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8')) as ADoc;
    } catch {
      // not part of this program
    }
  }
  return docs;
}

/** Apache's type description, in our vocabulary (enums are i32 there; classes lose the prefix). */
function fromApache(id: string, t: AType | undefined): unknown {
  switch (id) {
    case 'list':
    case 'set':
      return { kind: id, elem: fromApache(t!.elemTypeId!, t!.elemType) };
    case 'map':
      return { kind: 'map', key: fromApache(t!.keyTypeId!, t!.keyType), value: fromApache(t!.valueTypeId!, t!.valueType) };
    case 'struct':
    case 'union':
    case 'exception':
      return { kind: 'struct', name: t!.class!.split('.').pop() };
    case 'i8':
      return { kind: 'byte' };
    default:
      return { kind: id };
  }
}

function ours(t: TypeDesc): unknown {
  switch (t.kind) {
    case 'list':
    case 'set':
      return { kind: t.kind, elem: ours(t.elem) };
    case 'map':
      return { kind: 'map', key: ours(t.key), value: ours(t.value) };
    case 'struct':
      return { kind: 'struct', name: t.struct().name };
    case 'enum':
      return { kind: 'i32' };
    default:
      return { kind: t.kind };
  }
}

/** Our run-time value as Apache's JSON writes it (bool as 1/0, Map as object, no bigint). */
function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Set || Array.isArray(v)) return [...v].map(toJson);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

/** Apache leaves unset struct-constant fields out; ours fills defaults like a constructor would. */
function withoutFilledDefaults(oursJson: unknown, theirs: unknown): unknown {
  if (Array.isArray(oursJson) && Array.isArray(theirs)) return oursJson.map((x, i) => withoutFilledDefaults(x, theirs[i]));
  if (typeof oursJson === 'object' && oursJson !== null && typeof theirs === 'object' && theirs !== null && !Array.isArray(theirs)) {
    return Object.fromEntries(
      Object.entries(oursJson)
        .filter(([k]) => k in theirs)
        .map(([k, x]) => [k, withoutFilledDefaults(x, (theirs as Record<string, unknown>)[k])]),
    );
  }
  return oursJson;
}

function field(f: FieldDesc, union: boolean): unknown {
  const out: Record<string, unknown> = { key: f.id, name: f.name, type: ours(f.type), required: union ? 'union' : f.requiredness };
  if (f.defaultValue) out['default'] = toJson(f.defaultValue());
  return out;
}

function theirField(f: AField, union: boolean): unknown {
  const out: Record<string, unknown> = { key: f.key, name: f.name, type: fromApache(f.typeId, f.type), required: union ? 'union' : f.required === 'req_out' ? 'default' : f.required };
  if (f.default !== undefined) out['default'] = f.default;
  return out;
}

function compare(m: IdlModule, docs: Record<string, ADoc>, main: string, minStructs = 4): void {
  let structs = 0;
  for (const [prefix, doc] of Object.entries(docs)) {
    const key = (name: string): string => (prefix === main ? name : `${prefix}.${name}`);
    for (const e of doc.enums) assert.deepEqual(m.enums[key(e.name)], Object.fromEntries(e.members.map((x) => [x.name, x.value])), e.name);
    for (const s of doc.structs) {
      const d: StructDesc | undefined = m.structs[key(s.name)];
      assert.ok(d, s.name);
      assert.equal(d.kind, s.isUnion ? 'union' : s.isException ? 'exception' : 'struct');
      const theirs = s.fields.map((f) => theirField(f, s.isUnion)) as Record<string, unknown>[];
      const mine = d.fields.map((f, i) => {
        const x = field(f, s.isUnion) as Record<string, unknown>;
        if ('default' in x) x['default'] = withoutFilledDefaults(x['default'], theirs[i]?.['default']);
        return x;
      });
      assert.deepEqual(mine, theirs, s.name);
      structs++;
    }
    for (const c of doc.constants) {
      const mine = toJson(m.consts[key(c.name)]);
      // Apache's JSON lists a set constant as written; ours is a Set (`[235, 235]` is one element).
      const theirs = m.consts[key(c.name)] instanceof Set ? [...new Set(c.value as unknown[])] : c.value;
      assert.deepEqual(withoutFilledDefaults(mine, theirs), theirs, c.name);
    }
    for (const s of doc.services) {
      const d = m.services[key(s.name)]!;
      assert.equal(d.extends?.name, s.extends?.split('.').pop(), s.name);
      for (const fn of s.functions) {
        const md = d.methods[fn.name]!;
        assert.equal(md.oneway, fn.oneway);
        assert.deepEqual(
          md.args.fields.map((f) => field(f, false)),
          fn.arguments.map((f) => theirField(f, false)),
          `${fn.name} args`,
        );
        const success = md.result.fields.find((f) => f.id === 0);
        assert.deepEqual(success ? ours(success.type) : { kind: 'void' }, fromApache(fn.returnTypeId, fn.returnType), `${fn.name} returns`);
        assert.deepEqual(
          md.result.fields.filter((f) => f.id !== 0).map((f) => [f.id, f.name, ours(f.type)]),
          fn.exceptions.map((f) => [f.key, f.name, fromApache(f.typeId, f.type)]),
          `${fn.name} throws`,
        );
      }
    }
  }
  assert.ok(structs >= minStructs, 'compared something');
}

test('rich.thrift agrees with the Apache Thrift compiler', { skip: !hasThrift && 'thrift compiler not installed' }, () => {
  const file = path.join(ROOT, 'test/fixtures/idl/rich.thrift');
  compare(loadIdlSync(file), apache(file), 'rich');
});

test('edge.thrift agrees with the Apache Thrift compiler', { skip: !hasThrift && 'thrift compiler not installed' }, () => {
  const file = path.join(ROOT, 'test/fixtures/idl/edge/edge.thrift');
  const inc = [path.join(ROOT, 'test/fixtures/idl/edge/inc')];
  compare(loadIdlSync(file, { includeDirs: inc }), apache(file, inc), 'edge');
});

// Apache's own cross-language test IDL (test/v0.16/ThriftTest.thrift, which the 0.17 compiler
// reads): `namespace *`, `{}` for an empty set/map default, a union, nested containers.
test("Apache's ThriftTest.thrift loads and agrees with the Apache Thrift compiler", { skip: !hasThrift && 'thrift compiler not installed' }, () => {
  const file = path.join(ROOT, 'test/fixtures/idl/apache/ThriftTest.thrift');
  const m = loadIdlSync(file);
  compare(m, apache(file), 'ThriftTest');
  const bin = m.structs['OptionalBinary']!.fields;
  assert.deepEqual(bin.find((f) => f.name === 'bin_set')!.defaultValue!(), new Set());
  assert.deepEqual(bin.find((f) => f.name === 'bin_map')!.defaultValue!(), new Map());
});

// Apache's ConstantsDemo.thrift (v0.16): hex and negative hex, leading zeros, exponents,
// single-quoted strings, struct and nested-map constants, a set constant with a repeated element.
test("Apache's ConstantsDemo.thrift agrees with the Apache Thrift compiler", { skip: !hasThrift && 'thrift compiler not installed' }, () => {
  const file = path.join(ROOT, 'test/fixtures/idl/apache/ConstantsDemo.thrift');
  const m = loadIdlSync(file);
  compare(m, apache(file), 'ConstantsDemo', 3);
  assert.equal(m.consts['negative_hex_constant'], -31);
  assert.deepEqual(m.consts['GEN_SET'], new Set([235, 53235]));
});

// Apache accepts two members with one value (an alias) and rejects a repeated member name; we
// do the same, so an IDL that Apache compiles loads here too.
test('enum aliases load as in Apache; a repeated member name fails in both', { skip: !hasThrift && 'thrift compiler not installed' }, () => {
  const dir = mkdtempSync(path.join(out, 'enum-'));
  const alias = path.join(dir, 'alias.thrift');
  writeFileSync(alias, 'enum Status { OK = 0, SUCCESS = 0, FAILED = 1 }\nstruct R { 1: Status s = Status.SUCCESS }\n');
  const m = loadIdlSync(alias);
  assert.deepEqual(m.enums['Status'], { OK: 0, SUCCESS: 0, FAILED: 1 });
  assert.equal(spawnSync('thrift', ['--gen', 'json', '-out', dir, alias]).status, 0);
  const twice = path.join(dir, 'twice.thrift');
  writeFileSync(twice, 'enum Status { OK = 0, OK = 1 }\n');
  assert.throws(() => loadIdlSync(twice), /twice\.thrift:1:\d+: duplicate enum member 'OK' in Status/);
  assert.notEqual(spawnSync('thrift', ['--gen', 'json', '-out', dir, twice]).status, 0);
});
