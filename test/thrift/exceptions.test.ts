/**
 * Declared exceptions carry only the fields the thrower set — never Error's own message, name or
 * stack — proven on the wire against Apache's Python library both ways; handler crashes reach
 * clients as "Internal error processing <m>" unless exposeErrors is on, and go to onError.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { Thrift, ThriftApplicationError, TApplicationExceptionType, binaryProtocol, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { ThriftException, type ServiceDesc, type StructDesc } from '../../src/protocols/thrift/descriptors.js';
import { loadIdlSync } from '../../src/protocols/thrift/idl/index.js';
import { PYTHON, PEERS_DIR } from '../harness/peers.js';
import { runProcess, startProcess, type ProcessHandle } from '../harness/process.js';
import { generateThrift } from '../harness/thrift-gen.js';
import { ROOT } from './codegen-typecheck.js';

const IDL = path.join(ROOT, 'test/fixtures/idl/exceptions.thrift');
const idl = loadIdlSync(IDL);
const Raiser = idl.services['Raiser'] as ServiceDesc<RaiserClient, object>;
const Xception = idl.exceptions['Xception']!;
const Leaky = idl.exceptions['Leaky']!;
const SCRIPT = path.join(PEERS_DIR, 'py_exceptions.py');

interface RaiserClient {
  fail(which: string, given: boolean): Promise<void>;
}

/** The fields the binary encoding of `value` carries, decoded as a plain struct. */
function wireFields(desc: StructDesc, value: object): Record<string, unknown> {
  const p = binaryProtocol();
  const w = new BufferWriter(256);
  p.writeStruct(w, desc, value);
  const plain: StructDesc = { name: desc.name, kind: 'struct', fields: desc.fields };
  return { ...(p.readStruct(new BufferReader(w.takeCopy()), plain) as Record<string, unknown>) };
}

describe('what an exception object writes', () => {
  test('unset fields stay off the wire, Error.message/name/stack included', () => {
    const x = new Xception({ errorCode: 1002 });
    assert.deepEqual(wireFields(idl.structs['Xception']!, x), { errorCode: 1002 });
    assert.equal(x.message, 'Xception {errorCode: 1002}', 'a useful text when there is no IDL message');
    const leaky = new Leaky({ code: 7 });
    assert.ok(typeof leaky.stack === 'string' && leaky.name === 'Leaky');
    assert.deepEqual(wireFields(idl.structs['Leaky']!, leaky), { code: 7 }, 'no type name, no server stack trace');
  });

  test('fields set through the constructor or by assignment are written', () => {
    assert.deepEqual(wireFields(idl.structs['Xception']!, new Xception({ errorCode: 1, message: 'm' })), { errorCode: 1, message: 'm' });
    const later = new Xception({ errorCode: 2 }) as ThriftException & { message: string };
    later.message = 'set later';
    assert.equal(later.message, 'set later');
    assert.deepEqual(wireFields(idl.structs['Xception']!, later), { errorCode: 2, message: 'set later' });
    const leaky = new Leaky({ name: 'n', stack: 's', code: 3 });
    assert.equal(leaky.name, 'n');
    assert.deepEqual(wireFields(idl.structs['Leaky']!, leaky), { name: 'n', stack: 's', code: 3 });
    const renamed = new Leaky({ code: 4 }) as ThriftException & { name: string };
    renamed.name = 'assigned';
    assert.deepEqual(wireFields(idl.structs['Leaky']!, renamed), { name: 'assigned', code: 4 });
  });

  test('ThriftApplicationError shows its type name as an own property', () => {
    const e = new ThriftApplicationError(TApplicationExceptionType.INTERNAL_ERROR, 'x');
    assert.equal(e.typeName, 'INTERNAL_ERROR');
    assert.ok(Object.keys(e).includes('typeName'));
    assert.equal(new ThriftApplicationError(99, 'x').typeName, 'TYPE_99');
  });
});

interface PyCase {
  case: string;
  kind: string;
  type: string | number;
  fields: Record<string, unknown>;
}

describe('Apache Python client against our server', () => {
  const errors: { err: unknown; where: string }[] = [];
  let server: ThriftServer;
  before(async () => {
    server = await Thrift.serve(
      Raiser,
      {
        fail: (which: string, given: boolean) => {
          if (which === 'xception') throw new Xception(given ? { errorCode: 1002, message: 'boom' } : { errorCode: 1002 });
          if (which === 'leaky') throw new Leaky(given ? { code: 7, name: 'n', stack: 's' } : { code: 7 });
          if (which === 'crash') throw new Error('secret db password is hunter2');
        },
      },
      { onError: (err, where) => void errors.push({ err, where }) },
    );
  });
  after(() => server.close());

  test('unset fields arrive unset (None); crashes arrive as "Internal error processing fail"', async () => {
    const gen = await generateThrift('py', IDL);
    const r = await runProcess({ cmd: PYTHON, args: [SCRIPT, 'client', '--gen-dir', gen, '--port', String(server.port)], timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const got = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as PyCase)
        .map((c) => [c.case, c]),
    );
    assert.deepEqual(got['xception/unset']!.fields, { errorCode: 1002, message: null });
    assert.deepEqual(got['xception/set']!.fields, { errorCode: 1002, message: 'boom' });
    assert.deepEqual(got['leaky/unset']!.fields, { name: null, stack: null, code: 7 });
    assert.deepEqual(got['leaky/set']!.fields, { name: 'n', stack: 's', code: 7 });
    for (const c of ['crash/unset', 'crash/set']) {
      assert.equal(got[c]!.kind, 'app_error');
      assert.equal(got[c]!.type, TApplicationExceptionType.INTERNAL_ERROR);
      assert.deepEqual(got[c]!.fields, { message: 'Internal error processing fail' }, 'no handler text on the wire');
    }
    const logged = errors.filter((e) => e.where === 'handler fail');
    assert.equal(logged.length, 2, 'the server reports each crash to onError');
    assert.match(String((logged[0]!.err as Error).message), /hunter2/, 'with its message');
  });
});

describe('our client against an Apache Python server', () => {
  let peer: ProcessHandle;
  let client: RaiserClient & ClientControl;
  before(async () => {
    const gen = await generateThrift('py', IDL);
    peer = await startProcess({ cmd: PYTHON, args: ['-u', SCRIPT, 'server', '--gen-dir', gen, '--port', '0'], ready: /^READY (\d+)$/, timeoutMs: 15_000 });
    client = Thrift.newClient(Raiser, `tcp://127.0.0.1:${Number(peer.readyMatch?.[1])}`, { timeout: 10_000 });
  });
  after(async () => {
    await client.$close();
    await peer.stop();
  });

  const caught = async (which: string, given: boolean): Promise<ThriftException> => {
    try {
      await client.fail(which, given);
    } catch (err) {
      assert.ok(err instanceof ThriftException, String(err));
      return err;
    }
    assert.fail('expected an exception');
  };

  test('exceptions with unset fields arrive with them unset, and say so in their message', async () => {
    const x = await caught('xception', false);
    assert.ok(x instanceof Xception);
    assert.deepEqual({ ...x }, { thriftName: 'Xception', errorCode: 1002 });
    assert.equal(x.message, 'Xception {errorCode: 1002}');
    const xs = await caught('xception', true);
    assert.equal(xs.message, 'boom');
    const leaky = await caught('leaky', false);
    assert.deepEqual({ ...leaky }, { thriftName: 'Leaky', code: 7 });
    assert.equal(leaky.name, 'Leaky');
    assert.deepEqual(wireFields(idl.structs['Leaky']!, leaky), { code: 7 }, 'relayed on, it stays as it came');
    const set = await caught('leaky', true);
    assert.equal(set.name, 'n');
    assert.equal(set.stack, 's');
  });

  test("Apache's INTERNAL_ERROR arrives as a ThriftApplicationError", async () => {
    await assert.rejects(client.fail('crash', false), (e: unknown) => e instanceof ThriftApplicationError && e.typeName === 'INTERNAL_ERROR' && e.message === 'Internal error');
  });
});
