import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ThriftException, type StructDesc, type TypeDesc } from '../../src/protocols/thrift/descriptors.js';
import { loadIdl, loadIdlSync } from '../../src/protocols/thrift/idl/index.js';
import * as handBuilt from './codec-fixtures.js';
import { normService, normStruct, normType } from '../fixtures/idl/normalize.js';

const fixture = (p: string): string => fileURLToPath(new URL(`../fixtures/idl/${p}`, import.meta.url));
const RICH = fixture('rich.thrift');
const EDGE = fixture('edge/edge.thrift');
const EDGE_INC = [fixture('edge/inc')];

const field = (d: StructDesc, name: string) => {
  const f = d.fields.find((x) => x.name === name);
  assert.ok(f, `field ${name} of ${d.name}`);
  return f;
};
const structOf = (t: TypeDesc): StructDesc => {
  assert.equal(t.kind, 'struct');
  return (t as Extract<TypeDesc, { kind: 'struct' }>).struct();
};

test('rich.thrift: keys are plain for the main file and prefixed for includes', async () => {
  const m = await loadIdl(RICH);
  assert.deepEqual(Object.keys(m.structs).sort(), ['AllTypes', 'Invalid', 'Node', 'NotFound', 'Point', 'Shape', 'shared.Audit', 'shared.SharedError']);
  assert.deepEqual(Object.keys(m.services).sort(), ['BaseService', 'RichService']);
  assert.deepEqual(m.enums, { Priority: { LOW: 0, MEDIUM: 5, HIGH: 6 }, 'shared.Status': { ACTIVE: 1, SUSPENDED: 2, DELETED: 10 } });
  assert.deepEqual(m.consts, {
    MAX_ITEMS: 1000,
    GREETING: 'héllo wörld ✓',
    COLORS: ['red', 'green'],
    LIMITS: new Map([
      ['a', 1],
      ['b', 2],
    ]),
    PI: 3.14159,
  });
  assert.deepEqual(Object.keys(m.exceptions).sort(), ['Invalid', 'NotFound', 'shared.SharedError']);
});

test('rich.thrift: struct fields, typedefs resolved, defaults fresh and in the run-time mapping', () => {
  const m = loadIdlSync(RICH);
  const all = m.structs['AllTypes']!;
  assert.equal(all.fields.length, 26);
  assert.deepEqual(
    all.fields.map((f) => f.id),
    Array.from({ length: 26 }, (_, i) => i + 1),
  );
  assert.deepEqual(normType(field(all, 'ints').type), { kind: 'list', elem: { kind: 'i32' } });
  assert.deepEqual(normType(field(all, 'statuses').type), {
    kind: 'map',
    key: { kind: 'string' },
    value: { kind: 'list', elem: { kind: 'enum', name: 'Status', values: { ACTIVE: 1, SUSPENDED: 2, DELETED: 10 } } },
  });
  assert.deepEqual(normType(field(all, 'deep').type), {
    kind: 'map',
    key: { kind: 'i32' },
    value: { kind: 'map', key: { kind: 'string' }, value: { kind: 'list', elem: { kind: 'struct', struct: 'Point' } } },
  });
  assert.equal(field(all, 'aByte').type.kind, 'byte');
  assert.equal(field(all, 'note').requiredness, 'optional');
  assert.equal(field(all, 'id').requiredness, 'required');
  assert.equal(field(all, 'aBool').requiredness, 'default');
  assert.equal(field(all, 'priority').defaultValue?.(), 5);
  assert.equal(field(all, 'withDefault').defaultValue?.(), 42);
  assert.equal(field(all, 'strDefault').defaultValue?.(), 'dflt');
  const listDefault = field(all, 'listDefault').defaultValue!;
  assert.deepEqual(listDefault(), [1, 2, 3]);
  assert.notEqual(listDefault(), listDefault(), 'every call returns a fresh list');
  // Forward reference: Node is declared after AllTypes, and refers to itself.
  const node = structOf(field(all, 'tree').type);
  assert.equal(node, m.structs['Node']);
  assert.equal(structOf((field(node, 'children').type as Extract<TypeDesc, { kind: 'list' }>).elem), node);
  // Typedef in an included file (shared.Timestamp = i64) and an optional field with a default.
  const audit = structOf(field(all, 'audit').type);
  assert.equal(audit, m.structs['shared.Audit']);
  assert.deepEqual(normStruct(audit), {
    name: 'Audit',
    kind: 'struct',
    fields: [
      { id: 1, name: 'createdAt', type: { kind: 'i64' }, requiredness: 'required' },
      { id: 2, name: 'createdBy', type: { kind: 'string' }, requiredness: 'optional', defaultValue: 'system' },
    ],
    create: undefined,
  });
  assert.equal(m.structs['Shape']!.kind, 'union');
});

test('rich.thrift: services inherit, results carry success and declared exceptions', () => {
  const m = loadIdlSync(RICH);
  const rich = m.services['RichService']!;
  const base = m.services['BaseService']!;
  assert.equal(rich.extends, base);
  assert.deepEqual(Object.keys(rich.methods).slice(0, 3), ['ping', 'version', 'echoAll']);
  assert.equal(Object.keys(rich.methods).length, 18);
  const lookup = rich.methods['lookup']!;
  assert.deepEqual(lookup.params, ['key']);
  assert.deepEqual(normStruct(lookup.args), {
    name: 'lookup_args',
    kind: 'struct',
    fields: [{ id: 1, name: 'key', type: { kind: 'string' }, requiredness: 'default' }],
    create: undefined,
  });
  assert.deepEqual(
    lookup.result.fields.map((f) => [f.id, f.name, f.requiredness, f.type.kind === 'struct' ? f.type.struct().name : f.type.kind]),
    [
      [0, 'success', 'optional', 'string'],
      [1, 'notFound', 'optional', 'NotFound'],
      [2, 'invalid', 'optional', 'Invalid'],
      [3, 'shared', 'optional', 'SharedError'],
    ],
  );
  assert.equal(lookup.result.name, 'lookup_result');
  assert.deepEqual(rich.methods['noop']!.result.fields, [], 'void: no success field');
  assert.equal(rich.methods['record']!.oneway, true);
  assert.equal(rich.methods['ping']!.oneway, false);
  const withDefault = rich.methods['echoWithDefault']!;
  assert.equal(withDefault.args.fields[0]!.defaultValue?.(), 'fallback');
  assert.deepEqual(withDefault.params, ['s', 'n']);
});

test('rich.thrift: exceptions build ThriftException instances carrying their fields and defaults', () => {
  const m = loadIdlSync(RICH);
  const nf = m.structs['NotFound']!.create!({ message: 'no such key', key: 'k1' });
  assert.ok(nf instanceof ThriftException && nf instanceof Error);
  assert.equal(nf.thriftName, 'NotFound');
  assert.equal(nf.message, 'no such key');
  assert.equal((nf as unknown as { key: string }).key, 'k1');
  assert.ok(nf instanceof m.exceptions['NotFound']!);
  const se = new m.exceptions['shared.SharedError']!({ message: 'boom' });
  assert.equal((se as unknown as { code: number }).code, 500, 'default applied');
  assert.equal(se.name, 'SharedError');
});

test('edge.thrift: -I include dirs, typedef chains, enum numbering, every const kind', async () => {
  const m = await loadIdl(EDGE, { includeDirs: EDGE_INC });
  assert.deepEqual(m.enums['base.Kind'], { NEG: -2, NEXT: -1, HEX: 16, AFTER_HEX: 17 });
  assert.deepEqual(m.consts, {
    'base.DEFAULT_KIND': 16,
    'base.BASE_LIMIT': 7,
    SMALL: -128,
    BIG: 2n ** 63n - 1n,
    HEXBIG: 2n ** 63n - 1n,
    EXP: 1500,
    FROM_INT: 2,
    FLAG: true,
    ESCAPED: 'tab\there "quoted" back\\slash \'single\'',
    SINGLE: "it's",
    BLOB: Buffer.from('bytes'),
    LIMIT_COPY: 7,
    KIND: 17,
    TAGS: new Set(['a', 'b']),
    BY_KIND: new Map([
      [-2, [1, -1]],
      [17, []],
    ]),
    ORIGIN: { left: 0, right: 0, label: 'pair' },
    PAIRS: [
      { left: 1, right: 2, label: 'pair' },
      { left: 3, right: 4, label: 'x' },
    ],
    NUMS: [7, 7, 2],
    CHOICE: { num: 3 },
  });
  const r = m.structs['Reserved']!;
  assert.deepEqual(normType(field(r, 'moment').type), { kind: 'i64' }, 'When -> base.Deadline -> base.Millis -> i64');
  assert.deepEqual(normType(field(r, 'whens').type), { kind: 'list', elem: { kind: 'i64' } });
  assert.deepEqual([field(r, 'implicitOne').id, field(r, 'implicitTwo').id], [-1, -2]);
  assert.equal(field(r, 'kind').defaultValue?.(), 16);
  const pairDefault = field(r, 'pair').defaultValue!;
  assert.deepEqual(pairDefault(), { left: 5, right: 6, label: 'pair' });
  assert.notEqual(pairDefault(), pairDefault());
  const grand = m.services['GrandChild']!;
  assert.deepEqual(Object.keys(grand.methods), ['reset', 'fire', 'roundTrip', 'tiny', 'now']);
  assert.equal(grand.extends, m.services['Child']);
  assert.equal(grand.extends?.extends, m.services['base.Root']);
  assert.equal(grand.methods['tiny']!.result.fields[0]!.type.kind, 'byte', 'i8 is byte');
});

test('loadIdl and loadIdlSync agree', async () => {
  const a = await loadIdl(EDGE, { includeDirs: EDGE_INC });
  const b = loadIdlSync(EDGE, { includeDirs: EDGE_INC });
  for (const k of Object.keys(b.structs)) assert.deepEqual(normStruct(a.structs[k]!), normStruct(b.structs[k]!));
  for (const k of Object.keys(b.services)) assert.deepEqual(normService(a.services[k]!), normService(b.services[k]!));
  assert.deepEqual(a.consts, b.consts);
});

test('rich.thrift: descriptors match the hand-built codec fixtures', () => {
  const m = loadIdlSync(RICH);
  for (const [key, desc] of [
    ['AllTypes', handBuilt.AllTypes],
    ['Point', handBuilt.Point],
    ['Node', handBuilt.Node],
    ['shared.Audit', handBuilt.Audit],
    ['NotFound', handBuilt.NotFoundDesc],
  ] as const) {
    assert.deepEqual(normStruct(m.structs[key]!), normStruct(desc), key);
  }
});
