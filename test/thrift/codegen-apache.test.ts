/**
 * Apache's ThriftTest.thrift through `scales gen`: the generated modules and a usage file that
 * implements and calls ThriftTest must type-check under `tsc --strict --exactOptionalPropertyTypes`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { GEN_ROOT, ROOT, typeCheck } from './codegen-typecheck.js';

const GEN = GEN_ROOT('apache');
after(() => rmSync(GEN, { recursive: true, force: true }));

const USAGE = `
import type { ServiceDesc } from '../../../../src/protocols/thrift/descriptors.js';
import * as tt from './ThriftTest.js';

declare function newClient<C>(service: ServiceDesc<C>): C;
declare function serve<H extends object>(service: ServiceDesc<unknown, H>, handler: H): void;

export async function use(): Promise<void> {
  const c = newClient(tt.ThriftTest);
  const x: tt.Xtruct = await c.testStruct({ string_thing: 's', byte_thing: 1, i32_thing: 2, i64_thing: 3n });
  const u: tt.SomeUnion = await c.testMulti(1, 2, 3n, new Map([[1, 'a']]), tt.Numberz.FIVE, 4n).then(() => ({ i32_thing: 1 }));
  const opt: tt.OptionalBinary = { bin_set: undefined, bin_map: new Map() };
  const b: tt.BoolTest = { b: undefined };
  const crazy: tt.CrazyNesting = { list_field: [], set_field: undefined };
  const n: tt.Numberz = tt.myNumberz;
  const second = newClient(tt.SecondService);
  const s: string = await second.secondtestString('x', { timeout: 5 });
  void [x, u, opt, b, crazy, n, s];
  // @ts-expect-error required field missing
  const bad: tt.StructA = {};
  void bad;
  serve(tt.SecondService, { secondtestString: (thing) => thing });
  serve(tt.ThriftTest, {
    testVoid: () => {},
    testString: (s) => s,
    testBool: (b) => b,
    testByte: (b) => b,
    testI32: (i) => i,
    testI64: (i) => i,
    testDouble: (d) => d,
    testBinary: (b) => b,
    testStruct: (x) => x,
    testNest: (x) => x,
    testMap: (m) => m,
    testStringMap: (m) => m,
    testSet: (s) => s,
    testList: (l) => l,
    testEnum: (e) => e,
    testTypedef: (u) => u,
    testMapMap: () => new Map([[4, new Map([[1, 1]])]]),
    testInsanity: (argument) => new Map([[1n, new Map([[tt.Numberz.TWO, argument]])]]),
    testMulti: (arg0, arg1, arg2) => ({ string_thing: 'Hello2', byte_thing: arg0, i32_thing: arg1, i64_thing: arg2 }),
    testException: (arg) => {
      if (arg === 'Xception') throw new tt.Xception({ errorCode: 1001, message: arg });
    },
    testMultiException: (arg0, arg1) => {
      if (arg0 === 'Xception2') throw new tt.Xception2({ errorCode: 2002, struct_thing: { string_thing: 'This is an Xception2' } });
      return { string_thing: arg1 };
    },
    testOneway: () => {},
  });
}
`;

test("Apache's ThriftTest.thrift generates code that type-checks under --strict --exactOptionalPropertyTypes", () => {
  const out = typeCheck(path.join(GEN, 'thrift-test'), path.join(ROOT, 'test/fixtures/idl/apache/ThriftTest.thrift'), USAGE);
  assert.equal(out, '', `tsc failed:\n${out}`);
});

test("Apache's ConstantsDemo.thrift generates code that type-checks", () => {
  const usage = `
import * as c from './ConstantsDemo.js';
export const sum: number = c.hex_const + c.negative_hex_constant + (c.GEN_THING.hello ?? 0) + (c.GEN_WHAT.get(35)?.goodbye ?? 0);
export const gak: Error = new c.Gak();
export const set: Set<number> = c.GEN_SET;
`;
  const out = typeCheck(path.join(GEN, 'constants-demo'), path.join(ROOT, 'test/fixtures/idl/apache/ConstantsDemo.thrift'), usage);
  assert.equal(out, '', `tsc failed:\n${out}`);
});
