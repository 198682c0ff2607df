/**
 * Generates TypeScript for the interop and edge IDL into test/.gen/<random>, type-checks it with
 * our tsconfig (plus a usage file that must compile without casts, and must NOT compile where the
 * types are wrong), then imports it and compares its descriptors with loadIdl()'s.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ThriftException, type ServiceDesc, type StructDesc } from '../../src/protocols/thrift/descriptors.js';
import { generateTypeScript, loadIdlSync, type IdlModule } from '../../src/protocols/thrift/idl/index.js';
import { normService, normStruct } from '../fixtures/idl/normalize.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (p: string): string => path.join(ROOT, 'test/fixtures/idl', p);
const GEN = path.join(ROOT, 'test/.gen', `codegen-${randomBytes(4).toString('hex')}`);
const RUNTIME = path.join(ROOT, 'src/protocols/thrift/idl/runtime.js');
const EDGE_OPTS = { includeDirs: [fixture('edge/inc')] };

type GenModule = Record<string, unknown>;

function writeGenerated(sub: string, idl: string, opts: { includeDirs?: string[] } = {}): void {
  const dir = path.join(GEN, sub);
  mkdirSync(dir, { recursive: true });
  const runtime = path.relative(dir, RUNTIME).split(path.sep).join('/');
  for (const [name, source] of generateTypeScript(idl, { ...opts, runtime })) writeFileSync(path.join(dir, name), source);
}

// Compiles only if the generated types are usable as documented; @ts-expect-error lines prove
// the types are not `any`.
const USAGE = `
import { ThriftException } from '../../../src/protocols/thrift/descriptors.js';
import type { ServiceDesc } from '../../../src/protocols/thrift/descriptors.js';
import * as rich from './rich/rich.js';
import * as shared from './rich/shared.js';
import * as edge from './edge/edge.js';

declare function newClient<C>(service: ServiceDesc<C>): C;
declare function serve<H extends object>(service: ServiceDesc<unknown, H>, handler: H): void;

export async function use(): Promise<void> {
  const client = newClient(rich.RichService);
  const s: string = await client.echoString('x', { timeout: 5 });
  const n: bigint = await client.addI64(1n, 2n);
  const v: void = await client.record('evt');
  const version: number = await client.version();
  const p: rich.Priority = await client.echoPriority(rich.Priority.HIGH);
  const all: rich.AllTypes = { id: 'a', priority: rich.Priority.LOW, withDefault: 1, strDefault: '', listDefault: [], audit: { createdAt: 1n } };
  const shape: rich.Shape = { point: { x: 1, y: 2 } };
  void [s, n, v, version, p, all, shape];
  // @ts-expect-error wrong argument type
  await client.echoString(1);
  // @ts-expect-error i64 is bigint
  await client.addI64(1, 2);
  // @ts-expect-error not an enum value
  const bad: rich.Priority = 3;
  void bad;
  serve(rich.RichService, {
    ping: () => 'pong',
    version: async () => 1,
    echoAll: (value) => value,
    echoShape: (shape) => shape,
    addI64: (a, b) => a + b,
    echoDouble: (d) => d,
    echoString: (s, ctx) => s + ctx.method,
    echoBinary: (b) => b,
    echoPointMap: (m) => m,
    echoShapes: (shapes) => shapes,
    echoPriority: (p) => p,
    lookup: (key) => {
      if (key === '') throw new rich.NotFound({ key });
      throw new shared.SharedError({ message: 'boom' });
    },
    noop: () => {},
    crash: (message) => { throw new Error(message); },
    record: () => undefined,
    lastRecorded: () => '',
    sleep: (_ms, tag) => tag,
    echoWithDefault: (s, n) => s + n,
  });
  const e: ThriftException = new rich.NotFound({ message: 'm', key: 'k' });
  const key: string | undefined = new rich.NotFound().key;
  const code: number = new shared.SharedError().code;
  void [e, key, code];
  // @ts-expect-error unknown field
  new rich.NotFound({ nope: 1 });
  const tiny: number = await newClient(edge.GrandChild).tiny(1, 'c', 'f', { deadline: 1 });
  const reserved: edge.Reserved = { let: 1, kind: edge.KIND, pair: edge.ORIGIN, typeof: 'c', export: [] };
  const m: edge.Map_ = { entries: new Map([['a', 'b']]) };
  void [tiny, reserved, m];
}
`;

let richMods: Record<string, GenModule> = {};
let edgeMods: Record<string, GenModule> = {};

before(async () => {
  writeGenerated('rich', fixture('rich.thrift'));
  writeGenerated('edge', fixture('edge/edge.thrift'), EDGE_OPTS);
  writeFileSync(path.join(GEN, 'usage.ts'), USAGE);
  writeFileSync(path.join(GEN, 'tsconfig.json'), JSON.stringify({ extends: '../../../tsconfig.json', include: ['**/*.ts'], exclude: [] }));
  const load = async (sub: string, names: string[]): Promise<Record<string, GenModule>> => {
    const out: Record<string, GenModule> = {};
    for (const n of names) out[n] = (await import(pathToFileURL(path.join(GEN, sub, `${n}.ts`)).href)) as GenModule;
    return out;
  };
  richMods = await load('rich', ['rich', 'shared']);
  edgeMods = await load('edge', ['edge', 'base']);
});

after(() => rmSync(GEN, { recursive: true, force: true }));

test('generated code type-checks under our tsconfig (strict, verbatimModuleSyntax), usage without casts', () => {
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(GEN, 'tsconfig.json'), '--noEmit'], { cwd: ROOT, encoding: 'utf8' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    assert.fail(`tsc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
});

/** Finds the generated export for a loadIdl key (`shared.Audit` → shared.AuditDesc). */
function exportFor(mods: Record<string, GenModule>, main: string, key: string, suffix = ''): unknown {
  const dot = key.indexOf('.');
  const [mod, name] = dot < 0 ? [main, key] : [key.slice(0, dot), key.slice(dot + 1)];
  const m = mods[mod]!;
  // Names that clash with globals or TS keywords get a `_` suffix (see codegen-names.ts).
  return m[name + suffix] ?? m[`${name}_${suffix}`];
}

function compare(loaded: IdlModule, mods: Record<string, GenModule>, main: string): void {
  for (const [key, desc] of Object.entries(loaded.structs)) {
    const gen = exportFor(mods, main, key, 'Desc') as StructDesc | undefined;
    assert.ok(gen, `generated descriptor for ${key}`);
    assert.deepEqual(normStruct(gen), normStruct(desc), key);
  }
  for (const [key, desc] of Object.entries(loaded.services)) {
    const gen = exportFor(mods, main, key) as ServiceDesc | undefined;
    assert.ok(gen, `generated service ${key}`);
    assert.deepEqual(normService(gen), normService(desc), key);
  }
  for (const [key, values] of Object.entries(loaded.enums)) assert.deepEqual({ ...(exportFor(mods, main, key) as object) }, values, key);
  for (const [key, value] of Object.entries(loaded.consts)) assert.deepEqual(exportFor(mods, main, key), value, key);
}

test('rich.thrift: generated descriptors equal loadIdl descriptors', () => {
  compare(loadIdlSync(fixture('rich.thrift')), richMods, 'rich');
});

test('edge.thrift: generated descriptors equal loadIdl descriptors (renamed identifiers too)', () => {
  compare(loadIdlSync(fixture('edge/edge.thrift'), EDGE_OPTS), edgeMods, 'edge');
  assert.equal((edgeMods['edge']!['Map_Desc'] as StructDesc).name, 'Map', 'the wire name is unchanged');
});

test('generated exceptions are classes the descriptors create, with defaults', () => {
  const rich = richMods['rich']!;
  const shared = richMods['shared']!;
  const NotFound = rich['NotFound'] as new (f?: object) => ThriftException;
  const decoded = (rich['NotFoundDesc'] as StructDesc).create!({ message: 'gone', key: 'k' });
  assert.ok(decoded instanceof NotFound && decoded instanceof ThriftException);
  assert.equal(decoded.thriftName, 'NotFound');
  assert.equal(decoded.message, 'gone');
  const SharedError = shared['SharedError'] as new (f?: object) => ThriftException & { code: number };
  assert.equal(new SharedError().code, 500);
  assert.equal(new SharedError({ code: 7 }).code, 7);
  assert.equal(new SharedError().message, 'SharedError {code: 500}', 'no IDL message set: the type and its fields');
});

test('generated default values are fresh per call', () => {
  const all = richMods['rich']!['AllTypesDesc'] as StructDesc;
  const dv = all.fields.find((f) => f.name === 'listDefault')!.defaultValue!;
  assert.notEqual(dv(), dv());
});
