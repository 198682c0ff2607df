/**
 * `scales zerorpc`: what zerorpc-python's `zerorpc` command does.
 *   scales zerorpc tcp://127.0.0.1:4242                 list methods: [name], then each with its first doc line
 *   scales zerorpc -? tcp://127.0.0.1:4242 [add]        signatures (and the doc of one method)
 *   scales zerorpc tcp://127.0.0.1:4242 add 1 2         call with string arguments; -j: JSON arguments
 *   scales zerorpc -pj tcp://... count 3                JSON output; stream items one per line
 *   scales zerorpc --server --bind tcp://0.0.0.0:4242 ./calc.js:Calc    serve a module's export
 * The zerorpc module (and zeromq) is loaded only by this command.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { CliIo } from './main.js';
import { UsageError } from './usage.js';

export interface ZeroCliArgs {
  mode: 'client' | 'server';
  connect: string[];
  bind: string[];
  timeoutS: number | undefined;
  heartbeatS: number | undefined;
  jsonArgs: boolean;
  jsonOut: boolean;
  inspect: boolean;
  positional: string[];
}

export function parseZeroArgs(argv: readonly string[]): ZeroCliArgs {
  const a: ZeroCliArgs = { mode: 'client', connect: [], bind: [], timeoutS: undefined, heartbeatS: undefined, jsonArgs: false, jsonOut: false, inspect: false, positional: [] };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const seconds = (text: string, flag: string): number => {
    const n = Number(text);
    if (!(n >= 0)) throw new UsageError(`${flag} takes seconds, got '${text}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (a.positional.length > 0 && a.mode === 'client' && (a.connect.length > 0 || a.bind.length > 0 || a.positional.length > 1)) {
      // Once the method is named, everything is an argument of the call (even '-1').
      a.positional.push(arg);
      continue;
    }
    switch (arg) {
      case '--client':
        a.mode = 'client';
        break;
      case '--server':
        a.mode = 'server';
        break;
      case '--connect':
        a.connect.push(value(i++, arg));
        break;
      case '--bind':
        a.bind.push(value(i++, arg));
        break;
      case '--timeout':
        a.timeoutS = seconds(value(i++, arg), arg);
        break;
      case '--heartbeat':
        a.heartbeatS = seconds(value(i++, arg), arg);
        break;
      case '-j':
      case '--json':
        a.jsonArgs = true;
        break;
      case '-pj':
      case '--print-json':
        a.jsonOut = true;
        break;
      case '-?':
      case '--inspect':
        a.inspect = true;
        break;
      default:
        if (arg.startsWith('-') && arg.length > 1 && a.positional.length === 0) throw new UsageError(`zerorpc: unknown option '${arg}'`);
        a.positional.push(arg);
    }
  }
  return a;
}

interface Inspected {
  name: string;
  methods: Record<string, { args?: { name: string; default?: unknown }[]; doc?: string | null }>;
}

function signature(name: string, args: { name: string; default?: unknown }[] | undefined): string {
  const list = (args ?? []).filter((a) => a.name !== 'self').map((a) => ('default' in a ? `${a.name}=${JSON.stringify(a.default)}` : a.name));
  return `${name}(${list.join(', ')})`;
}

/** JSON for values msgpack can carry: bin as base64? Python's -pj fails on bytes; here bytes are UTF-8 text, BigInt digits. */
function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x instanceof Uint8Array ? Buffer.from(x).toString('utf8') : x));
}

function show(v: unknown, json: boolean): string {
  return json ? toJson(v) : typeof v === 'string' ? v : inspect(v, { depth: null, colors: false });
}

export async function runZeroRpc(a: ZeroCliArgs, io: CliIo): Promise<number> {
  const z = await import('../protocols/zerorpc/index.js');
  if (a.mode === 'server') return serve(a, io, z);
  if (a.bind.length > 0) throw new UsageError('zerorpc: a Scales client connects (--connect); --bind is for --server');
  const pos = [...a.positional];
  const address = a.connect.length > 0 ? a.connect.join(',') : pos.shift();
  if (address === undefined) throw new UsageError('zerorpc: name the server address (tcp://host:port), or --connect ADDR');
  const [method, ...params] = pos;
  const client = z.ZeroRpc.newClient(address, {
    timeout: a.timeoutS === undefined ? undefined : a.timeoutS * 1000,
    heartbeat: a.heartbeatS === undefined ? undefined : a.heartbeatS === 0 ? false : a.heartbeatS * 1000,
    retries: false,
  });
  try {
    if (method === undefined || a.inspect) {
      const info = (await client.$call('_zerorpc_inspect')) as Inspected;
      const names = Object.keys(info.methods);
      if (method !== undefined) {
        const m = info.methods[method];
        if (m === undefined) throw new UsageError(`zerorpc: the server has no method '${method}'`);
        io.out(`\n${signature(method, m.args)}\n\n${m.doc ?? '<undocumented>'}\n\n`);
        return 0;
      }
      if (a.inspect) {
        for (const n of names) io.out(`${signature(n, info.methods[n]!.args)}\n`);
        return 0;
      }
      const width = Math.max(0, ...names.map((n) => n.length));
      io.out(`[${info.name}]\n`);
      for (const n of names) {
        const doc = info.methods[n]!.doc;
        io.out(`${n.padEnd(width)} ${doc === undefined || doc === null || doc === '' ? '<undocumented>' : doc.split('\n')[0]!.trim()}\n`);
      }
      return 0;
    }
    let args: unknown[];
    try {
      args = a.jsonArgs ? params.map((p) => JSON.parse(p) as unknown) : params;
    } catch (err) {
      throw new UsageError(`zerorpc: -j: an argument is not JSON (${(err as Error).message})`);
    }
    const result = await client.$call(method, args);
    if (result instanceof z.ZeroStream) {
      for await (const item of result) io.out(`${show(item, a.jsonOut)}\n`);
    } else io.out(`${show(result, a.jsonOut)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof z.RemoteError) {
      io.err(err.remoteTraceback !== '' ? err.remoteTraceback.replace(/\n?$/, '\n') : `${err.remoteName}: ${err.remoteMessage}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.$close();
  }
}

async function serve(a: ZeroCliArgs, io: CliIo, z: typeof import('../protocols/zerorpc/index.js')): Promise<number> {
  const target = a.positional[0];
  if (target === undefined || a.bind.length + a.connect.length === 0) throw new UsageError('zerorpc --server: needs --bind (or --connect) ADDR and module[:export]');
  const colon = target.lastIndexOf(':');
  const [file, exportName] = colon > 1 ? [target.slice(0, colon), target.slice(colon + 1)] : [target, 'default'];
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const exported = mod[exportName];
  if (exported === undefined) throw new UsageError(`zerorpc --server: ${file} exports no '${exportName}'`);
  const handler = typeof exported === 'function' && exported.prototype !== undefined ? (new (exported as new () => object)() as object) : (exported as object);
  const server = await z.ZeroRpc.serve(handler, {
    bind: a.bind,
    connect: a.connect,
    heartbeat: a.heartbeatS === undefined ? undefined : a.heartbeatS === 0 ? false : a.heartbeatS * 1000,
    name: typeof exported === 'function' && exported.name !== '' ? exported.name : undefined,
  });
  io.out(`serving ${server.endpoints.join(' ')}\n`);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close(2000);
  return 0;
}
