/**
 * Optional arguments, defaulted fields and enums as a user meets them: the generated types
 * (checked by tsc under --strict --exactOptionalPropertyTypes, with calls that must NOT compile)
 * and the run-time behaviour over real TCP, JS-style calls included.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, TimeoutError } from '../../src/core/errors.js';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { loadIdlSync } from '../../src/protocols/thrift/idl/index.js';
import type { ServiceDesc } from '../../src/protocols/thrift/descriptors.js';
import { GEN_ROOT, ROOT, typeCheck } from './codegen-typecheck.js';

const IDL = path.join(ROOT, 'test/fixtures/idl/optional-args.thrift');
const GEN = GEN_ROOT('optional');
after(() => rmSync(GEN, { recursive: true, force: true }));

const USAGE = `
import type { ServiceDesc } from '../../../../src/protocols/thrift/descriptors.js';
import * as s from './optional-args.js';

declare function newClient<C>(service: ServiceDesc<C>): C;
declare function serve<H extends object>(service: ServiceDesc<unknown, H>, handler: H): void;

export async function use(): Promise<void> {
  const c = newClient(s.Store);
  const pages: s.Page[] = [
    await c.scan('a', 10),
    await c.scan('a', 10, { timeout: 100 }),
    await c.scan('a', 10, 'cursor'),
    await c.scan('a', 10, undefined, { timeout: 100 }),
    await c.find('a', { prefix: 'x' }),
    await c.find('a', { timeout: 100 }),
    await c.echoPage({ keys: [] }),
    await c.echoPage({ keys: ['k'], nextKey: undefined, size: undefined }),
  ];
  const n: number = (await c.count()) + (await c.count(s.Order.ASC)) + (await c.count({ deadline: 1 }));
  const page: s.Page = pages[0]!;
  const size: number = page.size; // filled in on read
  const order: s.Order = page.order;
  const busy = new s.Busy({ reason: undefined });
  const retry: number = busy.retryMs;
  void [n, size, order, retry];
  // @ts-expect-error the read side is complete: size and order are always there
  const incomplete: s.Page = { keys: [] };
  // @ts-expect-error a required argument stays required
  await c.scan('a');
  // @ts-expect-error keys is required on write too
  await c.echoPage({ size: 1 });
  void incomplete;
  serve(s.Store, {
    scan: (fromKey, limit, cursor) => {
      // @ts-expect-error an omitted optional argument arrives as undefined
      const must: string = cursor;
      void must;
      return { keys: [fromKey, String(limit), cursor ?? ''] };
    },
    find: (_fromKey, filter) => ({ keys: [filter?.prefix ?? '', String(filter?.limit)] }),
    count: (order, prefix) => order + (prefix?.length ?? 0),
    echoPage: (page) => page,
    pages: (pages) => pages.map((p) => ({ keys: p.keys })),
  });
}
`;

test('optional-args.thrift: optional trailing parameters, Input types, exactOptionalPropertyTypes-clean', () => {
  const out = typeCheck(path.join(GEN, 'optional'), IDL, USAGE);
  assert.equal(out, '', `tsc failed:\n${out}`);
});

type Loose = (...args: unknown[]) => Promise<unknown>;

describe('optional arguments at run time (JS-style calls, real TCP)', () => {
  const idl = loadIdlSync(IDL);
  const Store = idl.services['Store'] as ServiceDesc<Record<string, Loose>, object>;
  const seen: unknown[][] = [];
  let server: ThriftServer;
  let client: Record<string, Loose> & ClientControl;
  before(async () => {
    server = await Thrift.serve(
      Store,
      {
        scan: async (fromKey: string, limit: number, cursor: string | undefined) => {
          seen.push(['scan', fromKey, limit, cursor]);
          if (fromKey === 'slow') await new Promise((r) => setTimeout(r, 500));
          return { keys: [fromKey] };
        },
        find: (fromKey: string, filter: unknown) => {
          seen.push(['find', fromKey, filter]);
          return { keys: [] };
        },
        count: (order: number, prefix: string | undefined) => {
          seen.push(['count', order, prefix]);
          return order;
        },
        echoPage: (page: unknown) => page,
        pages: (pages: unknown) => pages,
      },
      { onError: false },
    );
    client = Thrift.newClient(Store, `tcp://127.0.0.1:${server.port}`, { timeout: 5000 });
  });
  after(async () => {
    await client.$close();
    await server.close();
  });

  test("scan('a', 2, { timeout }) takes the object as call options, not as the cursor", async () => {
    seen.length = 0;
    assert.deepEqual(await client.scan!('a', 2, { timeout: 1000 }), { keys: ['a'], size: 100, order: 1 });
    assert.deepEqual(seen, [['scan', 'a', 2, undefined]]);
    await assert.rejects(client.scan!('slow', 2, { timeout: 30 }), TimeoutError, 'the options were applied');
    assert.deepEqual(await client.scan!('b', 3, 'c'), { keys: ['b'], size: 100, order: 1 });
    assert.deepEqual(await client.scan!('b', 3), { keys: ['b'], size: 100, order: 1 });
    assert.deepEqual(seen.slice(1), [
      ['scan', 'slow', 2, undefined],
      ['scan', 'b', 3, 'c'],
      ['scan', 'b', 3, undefined],
    ]);
  });

  test('a struct argument is the struct when a key names one of its fields, else the options', async () => {
    seen.length = 0;
    await client.find!('a', { prefix: 'p' });
    await client.find!('a', { timeout: 1000 });
    await client.find!('a', {});
    await client.find!('a', undefined, { timeout: 1000 });
    assert.deepEqual(seen, [
      ['find', 'a', { prefix: 'p', limit: 10 }],
      ['find', 'a', undefined],
      ['find', 'a', { limit: 10 }],
      ['find', 'a', undefined],
    ]);
  });

  test('a defaulted first argument: count() and count({ timeout }) send the default', async () => {
    seen.length = 0;
    assert.equal(await client.count!(), 2);
    assert.equal(await client.count!({ timeout: 1000 }), 2);
    assert.equal(await client.count!(1, 'x'), 1);
    assert.deepEqual(seen, [
      ['count', 2, undefined],
      ['count', 2, undefined],
      ['count', 1, 'x'],
    ]);
  });

  test('defaults are filled on write and read; enum values are checked on write', async () => {
    assert.deepEqual(await client.echoPage!({ keys: ['k'] }), { keys: ['k'], size: 100, order: 1 });
    await assert.rejects(client.count!(7), (e: unknown) => e instanceof InvalidArgumentError && /enum Order \(1, 2\)/.test(e.message) && /number 7/.test(e.message));
    await assert.rejects(client.echoPage!({ keys: [], order: 3 }), (e: unknown) => e instanceof InvalidArgumentError && /Page\.order/.test(e.message));
    await assert.rejects(client.echoPage!({ keys: [], order: '1' }), InvalidArgumentError);
  });
});
