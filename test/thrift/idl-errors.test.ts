import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdlError } from '../../src/core/errors.js';
import { loadIdl, loadIdlSync, generateTypeScript } from '../../src/protocols/thrift/idl/index.js';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'scales-idl-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, source: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  return file;
}

/** Loads `source` and expects an IdlError whose message starts with `name:line:col` and matches. */
function expectIdlError(name: string, source: string, line: number, pattern: RegExp, extra: Record<string, string> = {}): void {
  for (const [n, s] of Object.entries(extra)) write(n, s);
  const file = write(name, source);
  assert.throws(
    () => loadIdlSync(file),
    (err: unknown) => {
      assert.ok(err instanceof IdlError, `IdlError, got ${String(err)}`);
      assert.equal(err.code, 'SCALES_ERR_IDL');
      assert.match(err.message, new RegExp(`${name.replace('.', '\\.')}:${line}:\\d+: `), err.message);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('syntax error: file:line and the parser message', () => {
  expectIdlError('syntax.thrift', 'struct A {\n  1: i32 x,\n  2: i32 y y\n}\n', 3, /syntax error/);
});

test('unknown type', () => {
  expectIdlError('unknown.thrift', 'struct A {\n  1: i32 x,\n  2: Missing y,\n}\n', 3, /unknown type 'Missing'/);
});

test('unknown type through an include prefix', () => {
  expectIdlError('unknown2.thrift', 'include "inc1.thrift"\n\nstruct A {\n  1: inc1.Nope y,\n}\n', 4, /unknown type 'inc1\.Nope'/, { 'inc1.thrift': 'struct Yes {}\n' });
});

test('duplicate field id', () => {
  expectIdlError('dupid.thrift', 'struct A {\n  1: i32 x,\n  1: i32 y,\n}\n', 3, /duplicate field id 1 in struct A \('x' and 'y'\)/);
});

test('duplicate field id in method parameters and throws', () => {
  expectIdlError('dupparam.thrift', 'service S {\n  void f(1: i32 a, 1: i32 b)\n}\n', 2, /duplicate field id 1 in the parameters of S\.f/);
});

test('missing include names the searched directories', () => {
  expectIdlError('noinc.thrift', '// a comment\ninclude "nowhere.thrift"\n', 2, /cannot find included file "nowhere\.thrift" \(searched /);
});

test('include cycle', () => {
  // Reported at the include that closes the cycle (in cyc-b).
  write('cyc-b.thrift', '\ninclude "cyc-a.thrift"\n');
  const a = write('cyc-a.thrift', 'include "cyc-b.thrift"\n');
  assert.throws(
    () => loadIdlSync(a),
    (err: unknown) => err instanceof IdlError && /cyc-b\.thrift:2:1: include cycle: cyc-a\.thrift -> cyc-b\.thrift -> cyc-a\.thrift$/.test(err.message),
  );
});

test('bad constants: wrong type, out of range, unknown reference, bad enum value', () => {
  expectIdlError('c1.thrift', 'const i32 X = "text"\n', 1, /does not fit type i32/);
  expectIdlError('c2.thrift', '\nconst byte B = 128\n', 2, /out of range for byte/);
  expectIdlError('c3.thrift', 'const i32 X = NOPE\n', 1, /unknown constant or enum value 'NOPE'/);
  expectIdlError('c4.thrift', 'enum E { A = 1 }\nconst E X = 2\n', 2, /2 is not a value of enum E/);
  expectIdlError('c5.thrift', 'struct P { 1: required i32 x }\nconst P X = { "y": 1 }\n', 2, /struct P has no field 'y'/);
  expectIdlError('c6.thrift', 'struct P { 1: required i32 x }\nconst P X = {}\n', 2, /misses required field 'x'/);
  expectIdlError('c7.thrift', 'const i32 A = B\nconst i32 B = A\n', 1, /'A' is defined in terms of itself/);
});

test('service errors: unknown parent, non-exception throws, bad oneway, redefined method', () => {
  expectIdlError('s1.thrift', 'service S extends Nope {\n}\n', 1, /unknown service 'Nope'/);
  expectIdlError('s2.thrift', 'struct E {}\nservice S {\n  void f() throws (1: E e)\n}\n', 3, /not an exception/);
  expectIdlError('s3.thrift', 'service S {\n  oneway i32 f()\n}\n', 2, /oneway function 'f' must return void/);
  expectIdlError('s4.thrift', 'service P { void f() }\nservice S extends P {\n  void f()\n}\n', 3, /already defined by a parent service/);
});

test('declaration errors: duplicate names, typedef cycles, void fields', () => {
  expectIdlError('d1.thrift', 'struct A {}\nstruct A {}\n', 2, /'A' is already declared/);
  expectIdlError('d2.thrift', 'typedef B A\ntypedef A B\n', 1, /defined in terms of itself/);
  expectIdlError('d3.thrift', 'struct A {\n  1: void x\n}\n', 2, /void/i);
  expectIdlError('d4.thrift', 'struct A {\n  0: i32 x\n}\n', 2, /field id 0/);
  expectIdlError('d5.thrift', 'const string S = "bad \\q escape"\n', 1, /bad escape/);
});

test('codegen and the async loader report the same IdlError', async () => {
  const file = write('async.thrift', 'struct A {\n  1: Missing y,\n}\n');
  await assert.rejects(loadIdl(file), (err: unknown) => err instanceof IdlError && /async\.thrift:2:\d+: unknown type/.test(err.message));
  assert.throws(
    () => generateTypeScript(file),
    (err: unknown) => err instanceof IdlError && /async\.thrift:2:\d+: unknown type/.test(err.message),
  );
  await assert.rejects(loadIdl(path.join(dir, 'absent.thrift')), (err: unknown) => err instanceof IdlError && /cannot read file/.test(err.message));
});

test('annotations are tolerated everywhere the interop IDL uses them', () => {
  const file = write(
    'ann.thrift',
    'namespace java a.b (x = "y")\ntypedef i32 (z = "1") Num\nstruct A {\n  1: Num n (f.a = "b"),\n} (s.a = "c")\nenum E { X (e = "1") } (e2 = "2")\nservice S {\n  void f(1: i32 a (p = "q")) (m = "n")\n} (s = "t")\n',
  );
  const m = loadIdlSync(file);
  assert.deepEqual(m.enums['E'], { X: 0 });
  assert.equal(m.structs['A']!.fields[0]!.type.kind, 'i32');
});
