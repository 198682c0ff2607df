/**
 * Apache Thrift (npm `thrift`) client for RichService: the same checks as py_rich_client.py, minus
 * what the npm package cannot represent (each such check is printed as skipped, with the reason;
 * README: "Apache npm limits"). One JSON line per check, then {"done", "passed", "failed",
 * "skipped"}; exit code 0 only if nothing failed.
 *
 * Usage: node apache_node_client.mjs --gen-dir DIR --port N [--host 127.0.0.1]
 *                                    [--protocol binary|compact] [--transport framed|buffered]
 * DIR is `thrift --gen js:node,ts,es6` output; NODE_PATH must let it require `thrift`.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    'gen-dir': { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    protocol: { type: 'string', default: 'binary' },
    transport: { type: 'string', default: 'framed' },
    'timeout-ms': { type: 'string', default: '10000' },
  },
});
if (!opts['gen-dir'] || !opts.port) throw new Error('--gen-dir and --port are required');

const genRequire = createRequire(join(opts['gen-dir'], 'index.js'));
const thrift = genRequire('thrift');
const Int64 = genRequire('node-int64');
const RichService = genRequire('./RichService.js');
const R = genRequire('./rich_types.js');
const S = genRequire('./shared_types.js');
const { Thrift } = thrift;
const TIMEOUT_MS = Number(opts['timeout-ms']);

// Generated constructors fill IDL defaults, on send and on decode. Clearing them before read lets
// the checks see exactly what the server put on the wire.
function clearDefaultsOnRead(cls, fields) {
  const read = cls.prototype.read;
  cls.prototype.read = function (input) {
    for (const f of fields) this[f] = null;
    return read.call(this, input);
  };
}
clearDefaultsOnRead(R.AllTypes, ['priority', 'withDefault', 'strDefault', 'listDefault']);
clearDefaultsOnRead(S.Audit, ['createdBy']);

// ------------------------------------------------------------------ i64 and canonical form

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);
function i64(b) {
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(BigInt.asIntN(64, b));
  return new Int64(buf);
}
const big = (v) => v.buffer.readBigInt64BE(v.offset);

function doubleBits(d) {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(d);
  return b.toString('hex');
}

const keyOf = (c) => JSON.stringify(c);

/** Type-tagged, order-independent: numbers by IEEE bits, i64 as decimal, maps sorted by key. */
function canon(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'number') return ['num', doubleBits(v)];
  if (typeof v === 'string') return ['s', v];
  if (v instanceof Int64) return ['i64', big(v).toString()];
  if (Buffer.isBuffer(v)) return ['b', v.toString('hex')];
  if (Array.isArray(v)) return ['list', v.map(canon)];
  if (v.constructor === Object) {
    return ['map', Object.keys(v).sort().map((k) => [k, canon(v[k])])];
  }
  const out = { $: v.constructor.name };
  for (const k of Object.keys(v).sort()) out[k] = canon(v[k]);
  return out;
}

/** Sets arrive as arrays in server order: sort them for comparison. */
const sortedSet = (arr) => (arr ? [...arr].sort((a, b) => (keyOf(canon(a)) < keyOf(canon(b)) ? -1 : 1)) : arr);
function normalizeAllTypes(v) {
  if (!(v instanceof R.AllTypes)) return v;
  const copy = Object.assign(Object.create(R.AllTypes.prototype), v);
  copy.longs = sortedSet(v.longs);
  copy.pointSet = sortedSet(v.pointSet);
  return copy;
}

function short(v, limit = 300) {
  const s = typeof v === 'string' ? v : keyOf(v);
  return s.length <= limit ? s : `${s.slice(0, limit)}...(${s.length} chars)`;
}

function firstDiff(a, b, path = '$') {
  if (Array.isArray(a) !== Array.isArray(b) || typeof a !== typeof b || (a === null) !== (b === null)) {
    return `${path}: ${short(a, 120)} != ${short(b, 120)}`;
  }
  if (Array.isArray(a)) {
    if (a.length !== b.length) return `${path}: length ${a.length} != ${b.length}`;
    for (let i = 0; i < a.length; i++) if (keyOf(a[i]) !== keyOf(b[i])) return firstDiff(a[i], b[i], `${path}[${i}]`);
  } else if (a && typeof a === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (keyOf(a[k]) !== keyOf(b[k])) return firstDiff(a[k] ?? null, b[k] ?? null, `${path}.${k}`);
    }
  }
  return `${path}: ${short(a, 120)} != ${short(b, 120)}`;
}

// ------------------------------------------------------------------ connection and checks

function connectClient() {
  return new Promise((resolve, reject) => {
    const conn = thrift.createConnection(opts.host, Number(opts.port), {
      transport: opts.transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
      protocol: opts.protocol === 'compact' ? thrift.TCompactProtocol : thrift.TBinaryProtocol,
      connect_timeout: TIMEOUT_MS,
      max_attempts: 1,
    });
    const client = thrift.createClient(RichService, conn);
    conn.lastError = null;
    conn.on('error', (err) => { conn.lastError = err; reject(err); });
    conn.once('connect', () => resolve({ conn, client }));
  });
}

class CallTimeout extends Error {}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeout(`no reply to ${what} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves ['ok', value] or ['raised', error]. npm matches replies to calls by seqid. */
async function call(c, method, ...args) {
  try {
    return ['ok', await withTimeout(c.client[method](...args), method)];
  } catch (e) {
    if (e instanceof CallTimeout) throw e;
    return ['raised', e];
  }
}

/** A call written by hand (absent args, unknown methods), dispatched back through the client. */
function rawCall(c, name, writeArgs) {
  const { client } = c;
  client._seqid = client.new_seqid();
  const seqid = client.seqid();
  const p = new Promise((resolve, reject) => {
    client._reqs[seqid] = (err, res) => (err ? reject(err) : resolve(res));
  });
  const out = new client.pClass(client.output);
  out.writeMessageBegin(name, Thrift.MessageType.CALL, seqid);
  out.writeStructBegin(`${name}_args`);
  writeArgs(out);
  out.writeFieldStop();
  out.writeStructEnd();
  out.writeMessageEnd();
  client.output.flush();
  return withTimeout(p, name).then((v) => ['ok', v], (e) => {
    if (e instanceof CallTimeout) throw e;
    return ['raised', e];
  });
}

const results = { passed: 0, failed: 0, skipped: 0 };
const emit = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function check(name, fn) {
  let ok;
  let detail;
  try {
    [ok, detail] = await fn();
  } catch (e) {
    ok = false;
    detail = `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
  }
  results[ok ? 'passed' : 'failed'] += 1;
  emit({ check: name, ok: Boolean(ok), detail });
  if (!ok && main) await resetMain();
}

/** The main connection; replaced after a failed check so one failure does not cascade. */
let main = null;
async function resetMain() {
  main.conn.end();
  try {
    const fresh = await connectClient();
    fresh.conn.on('error', (err) => process.stderr.write(`connection error: ${err?.stack ?? err}\n`));
    Object.assign(main, fresh);
  } catch (e) {
    results.failed += 1;
    emit({ check: 'reconnect', ok: false, detail: String(e) });
  }
}

function skip(name, reason) {
  results.skipped += 1;
  emit({ check: name, ok: true, skipped: reason });
}

function compare(kind, value, expected) {
  if (kind !== 'ok') return [false, `raised ${value?.name}: ${value?.message ?? value}`];
  const a = canon(normalizeAllTypes(value));
  const b = canon(normalizeAllTypes(expected));
  const same = keyOf(a) === keyOf(b);
  return [same, same ? 'ok' : firstDiff(a, b)];
}

const returns = (c, method, args, expected) => async () => {
  const [kind, value] = await call(c, method, ...args);
  return compare(kind, value, expected);
};

const raises = (c, method, args, cls, fields) => async () => {
  const [kind, value] = await call(c, method, ...args);
  if (kind !== 'raised') return [false, `returned ${short(canon(value))}, expected ${cls.name}`];
  if (!(value instanceof cls)) return [false, `raised ${value?.name}: ${value?.message}, expected ${cls.name}`];
  const got = Object.fromEntries(Object.keys(fields).map((k) => [k, value[k]]));
  return [keyOf(canon(got)) === keyOf(canon(fields)), canon(got)];
};

// ------------------------------------------------------------------ values

const P = (x, y) => new R.Point({ x, y });

function richAllTypes() {
  const tree = new R.Node({ label: 'root', children: [0, 1, 2].map((i) => new R.Node({ label: `leaf-${i}`, children: [] })) });
  let chain = new R.Node({ label: 'd19', children: [] });
  for (let d = 18; d >= 0; d--) chain = new R.Node({ label: `d${d}`, children: [chain] });
  tree.children.push(chain);
  return new R.AllTypes({
    aBool: true, aByte: -128, anI16: -32768, anI32: 2147483647, anI64: i64(I64_MIN),
    aDouble: NaN, aString: 'astral 😀𝄞 ✓ é \u0000 end', aBinary: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    priority: R.Priority.HIGH, note: '', id: 'rich-ü',
    strings: ['', 'a', 'ß'.repeat(100), '😀'.repeat(50)],
    longs: [I64_MIN, I64_MAX, 0n, -1n, 2n ** 53n + 1n].map(i64),
    // no -0.0: npm writeDouble drops its sign
    weights: { nan: NaN, inf: Infinity, '-inf': -Infinity, tiny: 5e-324, max: 1.7976931348623157e308, '': 0.1 },
    matrix: [[], [0], [-1, 2147483647, -2147483648], Array.from({ length: 40 }, (_, i) => i)],
    pointNames: {}, // npm cannot represent map<struct,_>: only the empty map
    pointSet: [P(1, 1), P(-2147483648, 0)],
    deep: { '-1': { '': [], pts: [P(1, 2), P(3, 4)] }, 2147483647: {} },
    audit: new S.Audit({ createdAt: i64(I64_MAX), createdBy: 'ci' }),
    ints: [0, -1, 1], statuses: { all: [1, 2, 10], none: [] },
    blobs: [Buffer.alloc(0), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(10)],
    withDefault: -42, strDefault: '', listDefault: [], tree,
  });
}

/** An AllTypes with exactly the given fields: constructor defaults cleared, so absent means absent. */
function bareAllTypes(fields) {
  const v = new R.AllTypes();
  for (const f of ['priority', 'withDefault', 'strDefault', 'listDefault']) v[f] = null;
  return Object.assign(v, fields);
}

// ------------------------------------------------------------------ the checks

async function runChecks(c) {
  await check('ping', returns(c, 'ping', [], 'pong'));
  await check('version', returns(c, 'version', [], 7));

  for (const [name, a, b, want] of [
    ['small', 1n, 2n, 3n], ['negatives', -1n, -1n, -2n], ['max+0', I64_MAX, 0n, I64_MAX],
    ['min+0', I64_MIN, 0n, I64_MIN], ['max+1 wraps', I64_MAX, 1n, I64_MIN],
    ['min-1 wraps', I64_MIN, -1n, I64_MAX], ['max+min', I64_MAX, I64_MIN, -1n],
    ['2^53+1 exact', 2n ** 53n + 1n, 0n, 2n ** 53n + 1n], ['2^32+2^32', 2n ** 32n, 2n ** 32n, 2n ** 33n],
    ['-2^53-3 exact', -(2n ** 53n) - 2n, -1n, -(2n ** 53n) - 3n],
  ]) {
    await check(`addI64 ${name}`, returns(c, 'addI64', [i64(a), i64(b)], i64(want)));
  }

  for (const [name, d] of [['0.0', 0], ['-0.0', -0], ['NaN', NaN], ['inf', Infinity], ['-inf', -Infinity],
    ['min subnormal', 5e-324], ['max', 1.7976931348623157e308], ['0.1', 0.1], ['-1.5', -1.5],
    ['pi', Math.PI], ['2^53+2', 2 ** 53 + 2]]) {
    if (Object.is(d, -0)) {
      skip('echoDouble -0.0', 'npm thrift writeDouble drops the sign of -0.0');
      continue;
    }
    await check(`echoDouble ${name}`, returns(c, 'echoDouble', [d], d));
  }

  for (const [name, s] of [['empty', ''], ['ascii', 'hello'], ['latin+bmp', 'héllo wörld ✓'],
    ['astral', '😀𝄞🀄 \u{10FFFF}'], ['nul', 'a\u0000b'], ['long 100k', 'xy😀'.repeat(25000)]]) {
    await check(`echoString ${name}`, returns(c, 'echoString', [s], s));
  }

  const all256 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const [name, b] of [['empty', Buffer.alloc(0)], ['all 256 bytes', all256], ['nul', Buffer.alloc(1)],
    ['1 MiB', Buffer.concat(Array.from({ length: 4096 }, () => all256))]]) {
    await check(`echoBinary ${name}`, returns(c, 'echoBinary', [b], b));
  }

  for (const name of ['LOW', 'MEDIUM', 'HIGH']) {
    await check(`echoPriority ${name}`, returns(c, 'echoPriority', [R.Priority[name]], R.Priority[name]));
  }

  const shapes = [['point', new R.Shape({ point: P(-7, 8) })], ['radius', new R.Shape({ radius: 0.25 })],
    ['radius NaN', new R.Shape({ radius: NaN })], ['name', new R.Shape({ name: 'circle ✓' })],
    ['name empty', new R.Shape({ name: '' })]];
  for (const [name, s] of shapes) await check(`echoShape ${name}`, returns(c, 'echoShape', [s], s));
  await check('echoShapes all variants', returns(c, 'echoShapes', [shapes.map((s) => s[1])], shapes.map((s) => s[1])));
  await check('echoShapes empty', returns(c, 'echoShapes', [[]], []));

  skip('echoPointMap struct keys', 'npm thrift decodes map<struct,_> into a plain object ("[object Object]" keys)');
  await check('echoPointMap empty', returns(c, 'echoPointMap', [{}], {}));

  const rich = richAllTypes();
  skip('echoAll rich pointNames', 'npm thrift cannot represent map<Point,_>: sent empty instead');
  await check('echoAll rich', returns(c, 'echoAll', [rich], rich));
  await check('echoAll required-only gets defaults', returns(c, 'echoAll', [bareAllTypes({ id: 'min' })],
    bareAllTypes({ id: 'min', priority: R.Priority.MEDIUM, withDefault: 42, strDefault: 'dflt', listDefault: [1, 2, 3] })));
  const audit = new S.Audit({ createdAt: i64(-1n) });
  audit.createdBy = null;
  await check('echoAll optional default filled', returns(c, 'echoAll', [bareAllTypes({ id: 'audit', audit })],
    bareAllTypes({ id: 'audit', audit: new S.Audit({ createdAt: i64(-1n), createdBy: 'system' }),
      priority: R.Priority.MEDIUM, withDefault: 42, strDefault: 'dflt', listDefault: [1, 2, 3] })));

  await check('lookup value', returns(c, 'lookup', ['k ✓'], 'value:k ✓'));
  await check('lookup empty key', returns(c, 'lookup', [''], 'value:'));
  await check('lookup NotFound', raises(c, 'lookup', ['missing'], R.NotFound, { message: 'no such key', key: 'missing' }));
  await check('lookup Invalid', raises(c, 'lookup', ['invalid'], R.Invalid, { reason: 'bad key', fields: ['key'] }));
  await check('lookup SharedError', raises(c, 'lookup', ['shared'], S.SharedError, { message: 'shared failure', code: 409 }));
  await check('lookup after exceptions', returns(c, 'lookup', ['again'], 'value:again'));

  await check('noop', returns(c, 'noop', [], undefined));
  await check('crash', async () => {
    const [kind, e] = await call(c, 'crash', 'boom ✓');
    if (kind !== 'raised' || !(e instanceof Thrift.TApplicationException)) return [false, `expected TApplicationException, got ${kind} ${e}`];
    return [e.type === Thrift.TApplicationExceptionType.INTERNAL_ERROR, { type: e.type, message: e.message }];
  });
  await check('after crash', returns(c, 'ping', [], 'pong'));
  await check('unknown method', async () => {
    c.client.recv_noSuchMethod = function (input, mtype, rseqid) {
      const cb = this._reqs[rseqid] || (() => {});
      delete this._reqs[rseqid];
      if (mtype !== Thrift.MessageType.EXCEPTION) return cb(new Error(`message type ${mtype}, expected EXCEPTION`));
      const x = new Thrift.TApplicationException();
      x.read(input);
      input.readMessageEnd();
      return cb(x);
    };
    const [kind, e] = await rawCall(c, 'noSuchMethod', (out) => {
      out.writeFieldBegin('x', Thrift.Type.I32, 1);
      out.writeI32(5);
      out.writeFieldEnd();
    });
    if (kind !== 'raised' || !(e instanceof Thrift.TApplicationException)) return [false, `expected TApplicationException, got ${kind} ${e}`];
    return [e.type === Thrift.TApplicationExceptionType.UNKNOWN_METHOD, { type: e.type, message: e.message }];
  });
  await check('after unknown method', returns(c, 'version', [], 7));

  await check('oneway record then lastRecorded', async () => {
    const event = `evt-${process.hrtime.bigint()}-😀`;
    await withTimeout(c.client.record(event), 'record');
    const [kind, value] = await call(c, 'lastRecorded');
    return [kind === 'ok' && value === event, { sent: event, got: short(String(value)) }];
  });

  await check('echoWithDefault given', returns(c, 'echoWithDefault', ['abc', 5], 'abc:5'));
  await check('echoWithDefault empty/negative', returns(c, 'echoWithDefault', ['', -1], ':-1'));
  await check('echoWithDefault absent arg gets default', async () => {
    // The generated args constructor always sends s = "fallback": write the call by hand without s.
    const [kind, value] = await rawCall(c, 'echoWithDefault', (out) => {
      out.writeFieldBegin('n', Thrift.Type.I32, 2);
      out.writeI32(3);
      out.writeFieldEnd();
    });
    return compare(kind, value, 'fallback:3');
  });

  await check('sleep', async () => {
    const t0 = performance.now();
    const [kind, value] = await call(c, 'sleep', 60, 'tag-✓');
    const ms = performance.now() - t0;
    return [kind === 'ok' && value === 'tag-✓' && ms >= 55, { got: value, ms: Math.round(ms * 10) / 10 }];
  });

  await check('concurrent connections', async () => {
    const conns = await Promise.all([connectClient(), connectClient()]);
    try {
      const t0 = performance.now();
      const out = await Promise.all(conns.map((k, i) => call(k, 'sleep', 300, `c${i}`)));
      const ms = performance.now() - t0;
      const ok = keyOf(out) === keyOf([['ok', 'c0'], ['ok', 'c1']]) && ms < 550;
      return [ok, { ms: Math.round(ms * 10) / 10, results: out }];
    } finally {
      for (const k of conns) k.conn.end();
    }
  });
}

main = await connectClient();
main.conn.on('error', (err) => process.stderr.write(`connection error: ${err?.stack ?? err}\n`));
try {
  await runChecks(main);
} finally {
  main.conn.end();
}
emit({ done: true, ...results });
process.exitCode = results.failed === 0 ? 0 : 1;
