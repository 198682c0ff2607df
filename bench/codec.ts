/**
 * Codec micro-benchmark: Scales' binary/compact codecs against the Apache `thrift` npm package
 * (TBinaryProtocol / TCompactProtocol over TFramedTransport, as a framed Apache service runs
 * them) on the same values. Encode = struct → owned Buffer; decode = Buffer → value.
 *   npx tsx bench/codec.ts
 * Apache JS is generated with the `thrift` compiler into bench/.gen/ (git-ignored).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BufferReader, BufferWriter } from '../src/core/bytes.js';
import { binaryProtocol } from '../src/protocols/thrift/binary.js';
import { compactProtocol } from '../src/protocols/thrift/compact.js';
import type { StructDesc, TypeDesc } from '../src/protocols/thrift/descriptors.js';
import type { ThriftProtocol } from '../src/protocols/thrift/protocol.js';
import { AllTypes, richValue, Small, smallValue } from '../test/thrift/codec-fixtures.js';

export interface Row {
  case: string;
  protocol: 'binary' | 'compact';
  op: 'encode' | 'decode';
  oursOpsPerSec: number;
  apacheOpsPerSec: number;
  /** ours / apache */
  ratio: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const genDir = join(here, '.gen', 'codec');
const require = createRequire(import.meta.url);

type ApacheCtor = new (args?: Record<string, unknown>) => { write(p: unknown): void; read(p: unknown): void };
interface ApacheThrift {
  TFramedTransport: new (buf?: Buffer, onFlush?: (b: Buffer) => void) => { flush(): void };
  TBinaryProtocol: new (t: unknown) => unknown;
  TCompactProtocol: new (t: unknown) => unknown;
}

function generateApache(): Record<string, ApacheCtor> {
  mkdirSync(genDir, { recursive: true });
  const smallIdl = join(genDir, 'small.thrift');
  writeFileSync(smallIdl, 'struct Small { 1: i64 id, 2: string name, 3: list<i32> values, 4: bool flag }\n');
  const run = (idl: string) => execFileSync('thrift', ['--gen', 'js:node,ts,es6', '-r', '-out', genDir, idl], { stdio: ['ignore', 'ignore', 'pipe'] });
  run(smallIdl);
  run(join(root, 'test/fixtures/idl/rich.thrift'));
  return {
    ...(require(join(genDir, 'small_types.js')) as Record<string, ApacheCtor>),
    ...(require(join(genDir, 'shared_types.js')) as Record<string, ApacheCtor>),
    ...(require(join(genDir, 'rich_types.js')) as Record<string, ApacheCtor>),
  };
}

/** Our value → the shape Apache's generated JS expects (Int64, arrays for sets, objects for maps). */
function toApache(t: TypeDesc, v: unknown, classes: Record<string, ApacheCtor>, Int64: new (hex: string) => unknown): unknown {
  switch (t.kind) {
    case 'i64':
      return new Int64(
        BigInt.asUintN(64, v as bigint)
          .toString(16)
          .padStart(16, '0'),
      );
    case 'list':
      return (v as unknown[]).map((e) => toApache(t.elem, e, classes, Int64));
    case 'set':
      return [...(v as Set<unknown>)].map((e) => toApache(t.elem, e, classes, Int64));
    case 'map': {
      const o: Record<string, unknown> = {};
      for (const [k, e] of v as Map<string | number, unknown>) o[String(k)] = toApache(t.value, e, classes, Int64);
      return o;
    }
    case 'struct':
      return structToApache(t.struct(), v as Record<string, unknown>, classes, Int64);
    default:
      return v;
  }
}

function structToApache(desc: StructDesc, v: Record<string, unknown>, classes: Record<string, ApacheCtor>, Int64: new (hex: string) => unknown): unknown {
  const args: Record<string, unknown> = {};
  for (const f of desc.fields) if (v[f.name] !== undefined) args[f.name] = toApache(f.type, v[f.name], classes, Int64);
  return new classes[desc.name]!(args);
}

/** Ops per second of `fn`, run in batches for about `ms` after a warm-up. */
function measure(fn: () => void, ms: number): number {
  for (let i = 0; i < 2000; i++) fn();
  let ops = 0;
  const batch = 1000;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

let sink: unknown;

export async function runCodecBench(opts: { ms?: number } = {}): Promise<Row[]> {
  const ms = opts.ms ?? 400;
  const thrift = require('thrift') as ApacheThrift;
  const Int64 = require('node-int64') as new (hex: string) => unknown;
  const classes = generateApache();
  // Apache JS cannot key a map by a struct (it stringifies keys): leave pointNames out for both.
  const rich = richValue();
  delete rich['pointNames'];
  const cases: { name: string; desc: StructDesc; value: Record<string, unknown> }[] = [
    { name: 'Small', desc: Small, value: smallValue() },
    { name: 'AllTypes', desc: AllTypes, value: rich },
  ];
  const rows: Row[] = [];
  for (const c of cases) {
    const apacheValue = structToApache(c.desc, c.value, classes, Int64) as { write(p: unknown): void };
    const Ctor = classes[c.desc.name]!;
    for (const kind of ['binary', 'compact'] as const) {
      const ours: ThriftProtocol = kind === 'binary' ? binaryProtocol() : compactProtocol();
      const ApacheProto = kind === 'binary' ? thrift.TBinaryProtocol : thrift.TCompactProtocol;
      const w = new BufferWriter(64 * 1024);
      ours.writeStruct(w, c.desc, c.value);
      const encoded = w.takeCopy();
      const r = new BufferReader(encoded);

      let framed: Buffer = Buffer.alloc(0);
      const onFlush = (b: Buffer): void => {
        framed = b;
      };
      const apacheEncode = (): void => {
        const t = new thrift.TFramedTransport(undefined, onFlush);
        apacheValue.write(new ApacheProto(t));
        t.flush();
        sink = framed;
      };
      apacheEncode();
      const apacheBody = framed.subarray(4);
      if (c.name === 'Small' && !apacheBody.equals(encoded)) throw new Error(`${kind}: Apache and Scales bytes differ for Small`);

      const oursEncode = (): void => {
        ours.writeStruct(w, c.desc, c.value);
        sink = w.takeCopy();
      };
      const oursDecode = (): void => {
        r.pos = 0;
        sink = ours.readStruct(r, c.desc);
      };
      const apacheDecode = (): void => {
        const o = new Ctor();
        o.read(new ApacheProto(new thrift.TFramedTransport(apacheBody)));
        sink = o;
      };
      for (const [op, a, b] of [
        ['encode', oursEncode, apacheEncode],
        ['decode', oursDecode, apacheDecode],
      ] as const) {
        const oursOps = measure(a, ms);
        const apacheOps = measure(b, ms);
        rows.push({ case: c.name, protocol: kind, op, oursOpsPerSec: oursOps, apacheOpsPerSec: apacheOps, ratio: oursOps / apacheOps });
      }
    }
  }
  void sink;
  return rows;
}

export function formatRows(rows: readonly Row[]): string {
  const head = 'case      protocol op      scales ops/s   apache ops/s   ratio';
  const lines = rows.map(
    (r) =>
      `${r.case.padEnd(9)} ${r.protocol.padEnd(8)} ${r.op.padEnd(7)} ${Math.round(r.oursOpsPerSec).toLocaleString('en').padStart(12)}   ${Math.round(r.apacheOpsPerSec).toLocaleString('en').padStart(12)}   ${r.ratio.toFixed(1).padStart(5)}x`,
  );
  return [head, ...lines].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await runCodecBench();
  console.log(formatRows(rows));
}
