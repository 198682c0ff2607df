/**
 * Apache Thrift (npm `thrift`) server for RichService: the second reference peer for our client.
 * Same semantics as py_rich_server.py (test/peers/README.md), within what the npm package can
 * represent (README: "Apache npm limits").
 *
 * Usage: node apache_node_server.mjs --gen-dir DIR [--port 0] [--protocol binary|compact]
 *                                    [--transport framed|buffered]
 * DIR is `thrift --gen js:node,ts,es6` output (CommonJS); NODE_PATH must let it require `thrift`.
 * Prints `READY <port>` once listening.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    'gen-dir': { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    protocol: { type: 'string', default: 'binary' },
    transport: { type: 'string', default: 'framed' },
  },
});
if (!opts['gen-dir']) throw new Error('--gen-dir is required');
if (!['binary', 'compact'].includes(opts.protocol)) throw new Error(`bad --protocol ${opts.protocol}`);
if (!['framed', 'buffered'].includes(opts.transport)) throw new Error(`bad --transport ${opts.transport}`);

// Load the generated code and `thrift` through one require so both see the same module instances.
const genRequire = createRequire(join(opts['gen-dir'], 'index.js'));
const thrift = genRequire('thrift');
const Int64 = genRequire('node-int64');
const RichService = genRequire('./RichService.js');
const R = genRequire('./rich_types.js');
const S = genRequire('./shared_types.js');

const toBig = (v) => v.buffer.readBigInt64BE(v.offset);
function fromBig(b) {
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(BigInt.asIntN(64, b));
  return new Int64(buf);
}

let recorded = '';

// The generated processor picks promise style when fn.length equals the IDL arity: keep exact
// parameter lists (no defaults, no rest). It wraps the call as Promise.resolve(fn(...)), so a
// synchronous throw escapes it and kills the connection: throwing handlers must be async.
const handler = {
  ping() { return 'pong'; },
  version() { return 7; },
  echoAll(value) { return value; },
  echoShape(shape) { return shape; },
  addI64(a, b) { return fromBig(toBig(a) + toBig(b)); },
  echoDouble(d) { return d; },
  echoString(s) { return s; },
  echoBinary(b) { return b; },
  echoPointMap(m) { return m; },
  echoShapes(shapes) { return shapes; },
  echoPriority(p) { return p; },
  async lookup(key) {
    if (key === 'missing') throw new R.NotFound({ message: 'no such key', key });
    if (key === 'invalid') throw new R.Invalid({ reason: 'bad key', fields: ['key'] });
    if (key === 'shared') throw new S.SharedError({ message: 'shared failure', code: 409 });
    return `value:${key}`;
  },
  noop() { return undefined; },
  async crash(message) { throw new Error(message); }, // npm answers TApplicationException(UNKNOWN, message)
  record(event) { recorded = event; },
  lastRecorded() { return recorded; },
  sleep(ms, tag) { return new Promise((resolve) => setTimeout(() => resolve(tag), ms)); },
  echoWithDefault(s, n) { return `${s}:${n}`; },
};

const server = thrift.createServer(RichService, handler, {
  transport: opts.transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
  protocol: opts.protocol === 'compact' ? thrift.TCompactProtocol : thrift.TBinaryProtocol,
});
server.on('error', (err) => process.stderr.write(`server error: ${err?.stack ?? err}\n`));
server.listen(Number(opts.port), opts.host, () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
