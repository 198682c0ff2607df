/**
 * Byte-level interop with Apache Thrift's Python library (a real peer, not a mock): we encode,
 * Python decodes; Python encodes, we decode. Both sides reduce values to the same canonical JSON
 * (doubles as their IEEE bits, i64 as decimal strings, sets/maps sorted) and compare.
 */
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { binaryProtocol } from '../../src/protocols/thrift/binary.js';
import { compactProtocol } from '../../src/protocols/thrift/compact.js';
import type { StructDesc, TypeDesc } from '../../src/protocols/thrift/descriptors.js';
import type { ThriftProtocol } from '../../src/protocols/thrift/protocol.js';
import { AllTypes, NotFound, NotFoundDesc, richValue, Shape } from './codec-fixtures.js';

const IDL = join(import.meta.dirname, '../fixtures/idl/rich.thrift');
const STRUCTS: Record<string, StructDesc> = { AllTypes, Shape, NotFound: NotFoundDesc };
const PROTOCOLS: Record<string, ThriftProtocol> = { binary: binaryProtocol(), compact: compactProtocol() };

const PY = String.raw`
import sys, json, struct
sys.path.insert(0, sys.argv[1])
from thrift.transport import TTransport
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from scales_test.rich import ttypes as R
from scales_test.shared import ttypes as S
R.Point.__hash__ = lambda self: hash((self.x, self.y))  # generated structs are unhashable map keys

PROTOS = {'binary': TBinaryProtocol.TBinaryProtocol, 'compact': TCompactProtocol.TCompactProtocol}

def key(c): return json.dumps(c, sort_keys=True, separators=(',', ':'), ensure_ascii=False)

def canon(v):
    if v is None: return None
    if isinstance(v, bool): return v
    if isinstance(v, int): return str(v)
    if isinstance(v, float): return ['d', struct.pack('>d', v).hex()]
    if isinstance(v, str): return ['s', v]
    if isinstance(v, (bytes, bytearray)): return ['b', bytes(v).hex()]
    if isinstance(v, list): return [canon(e) for e in v]
    if isinstance(v, (set, frozenset)): return sorted((canon(e) for e in v), key=key)
    if isinstance(v, dict): return sorted(([canon(k), canon(e)] for k, e in v.items()), key=key)
    if hasattr(v, 'thrift_spec'):
        out = {'$': type(v).__name__}
        for spec in v.thrift_spec:
            if spec is None: continue
            fv = getattr(v, spec[2], None)
            if fv is not None: out[spec[2]] = canon(fv)
        return out
    raise TypeError(repr(v))

def encode(obj, proto):
    t = TTransport.TMemoryBuffer(); obj.write(PROTOS[proto](t)); return t.getvalue().hex()

def decode(cls, proto, hexstr):
    p = PROTOS[proto](TTransport.TMemoryBuffer(bytes.fromhex(hexstr)))
    c = getattr(R, cls)
    if isinstance(c.__dict__.get('read'), classmethod): return c.read(p)  # exceptions are immutable
    obj = c(); obj.read(p); return obj

P = R.Point
def py_values():
    return {
        'AllTypes': R.AllTypes(aBool=False, aByte=127, anI16=32767, anI32=-2147483648, anI64=2**63 - 1,
            aDouble=float('-inf'), aString='astral 😀 ✓ é', aBinary=bytes(range(256)), priority=0, note=None, id='py',
            strings=['x' * 300], longs={-(2**63), 2**32}, weights={'nan': float('nan'), 'negzero': -0.0},
            matrix=[[i for i in range(20)]], pointNames={P(x=5, y=6): 'p'}, pointSet={P(x=1, y=1)},
            deep={-1: {'': []}}, audit=S.Audit(createdAt=-1),
            ints=[], statuses={'s': [2]}, blobs=[b'', b'\x00'], withDefault=-42, strDefault='', listDefault=[],
            tree=R.Node(label='a', children=[R.Node(label='b', children=[R.Node(label='c', children=[])])])),
        'Shape': R.Shape(radius=0.25),
        'NotFound': R.NotFound(message='gone', key='k'),
    }

req = json.load(sys.stdin)
out = {'decoded': [], 'encoded': []}
for c in req:
    out['decoded'].append(canon(decode(c['struct'], c['proto'], c['hex'])))
for name, obj in py_values().items():
    for proto in PROTOS:
        out['encoded'].append({'struct': name, 'proto': proto, 'hex': encode(obj, proto), 'canon': canon(obj)})
print(json.dumps(out, ensure_ascii=False))
`;

type Canon = null | boolean | string | Canon[] | { [k: string]: Canon };

function stable(c: Canon): string {
  if (c === null || typeof c !== 'object') return JSON.stringify(c);
  if (Array.isArray(c)) return `[${c.map(stable).join(',')}]`;
  return `{${Object.keys(c)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(c[k]!)}`)
    .join(',')}}`;
}
const sortCanon = (xs: Canon[]): Canon[] => xs.sort((a, b) => (stable(a) < stable(b) ? -1 : stable(a) > stable(b) ? 1 : 0));

/** Our value → the same canonical form the Python side produces, driven by the descriptor. */
function canon(t: TypeDesc, v: unknown): Canon {
  if (v === undefined || v === null) return null;
  switch (t.kind) {
    case 'bool':
      return v as boolean;
    case 'byte':
    case 'i16':
    case 'i32':
    case 'enum':
    case 'i64':
      return String(v);
    case 'double': {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v as number);
      return ['d', b.toString('hex')];
    }
    case 'string':
      return ['s', v as string];
    case 'binary':
      return ['b', Buffer.from(v as Uint8Array).toString('hex')];
    case 'list':
      return (v as unknown[]).map((e) => canon(t.elem, e));
    case 'set':
      return sortCanon([...(v as Set<unknown>)].map((e) => canon(t.elem, e)));
    case 'map':
      return sortCanon([...(v as Map<unknown, unknown>)].map(([k, e]) => [canon(t.key, k), canon(t.value, e)]));
    case 'struct':
      return canonStruct(t.struct(), v as Record<string, unknown>);
  }
}

function canonStruct(desc: StructDesc, v: Record<string, unknown>): Canon {
  const out: Record<string, Canon> = { $: desc.name };
  for (const f of desc.fields) {
    const fv = v[f.name] ?? f.defaultValue?.(); // what goes on the wire: defaults are written
    if (fv !== undefined && fv !== null) out[f.name] = canon(f.type, fv);
  }
  return out;
}

interface PyResult {
  decoded: Canon[];
  encoded: { struct: string; proto: string; hex: string; canon: Canon }[];
}

// Values we encode for Python: both protocols, the rich value plus edge cases.
function ourCases(): { struct: string; value: Record<string, unknown> }[] {
  const extreme = richValue();
  Object.assign(extreme, { aDouble: NaN, anI64: 2n ** 63n - 1n, aString: '', aBinary: Buffer.alloc(3000, 0xab), withDefault: undefined, listDefault: undefined });
  return [
    { struct: 'AllTypes', value: richValue() },
    { struct: 'AllTypes', value: extreme },
    { struct: 'AllTypes', value: { id: 'defaults-only' } },
    { struct: 'Shape', value: { point: { x: -7, y: 2147483647 } } },
    { struct: 'Shape', value: { name: '😀' } },
    { struct: 'NotFound', value: new NotFound({ message: 'm', key: 'k' }) as unknown as Record<string, unknown> },
  ];
}

describe('interop with Apache Thrift (Python)', () => {
  let dir = '';
  let result: PyResult;
  const sent: { struct: string; proto: string; value: Record<string, unknown>; hex: string }[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'scales-codec-interop-'));
    execFileSync('thrift', ['--gen', 'py', '-r', '-out', dir, IDL], { stdio: ['ignore', 'ignore', 'pipe'] });
    writeFileSync(join(dir, 'peer.py'), PY);
    for (const c of ourCases()) {
      for (const [proto, p] of Object.entries(PROTOCOLS)) {
        const w = new BufferWriter(64);
        p.writeStruct(w, STRUCTS[c.struct]!, c.value);
        sent.push({ ...c, proto, hex: w.takeCopy().toString('hex') });
      }
    }
    const run = spawnSync('/usr/bin/python3', [join(dir, 'peer.py'), dir], {
      input: JSON.stringify(sent.map(({ struct, proto, hex }) => ({ struct, proto, hex }))),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 0, run.stderr);
    result = JSON.parse(run.stdout) as PyResult;
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Python decodes what we encode (binary and compact) to the same values', () => {
    assert.equal(result.decoded.length, sent.length);
    sent.forEach((c, i) => {
      assert.deepStrictEqual(result.decoded[i], canonStruct(STRUCTS[c.struct]!, c.value), `${c.struct}/${c.proto} #${i}`);
    });
  });

  it('we decode what Python encodes to the same values, and re-encode it byte for byte', () => {
    assert.ok(result.encoded.length >= 6);
    for (const e of result.encoded) {
      const desc = STRUCTS[e.struct]!;
      const p = PROTOCOLS[e.proto]!;
      const bytes = Buffer.from(e.hex, 'hex');
      const r = new BufferReader(bytes);
      const value = p.readStruct(r, desc) as Record<string, unknown>;
      assert.equal(r.remaining, 0);
      assert.deepStrictEqual(canonStruct(desc, value), e.canon, `${e.struct}/${e.proto}`);
      // Decoded sets/maps keep wire order, so an exact encoder reproduces Python's bytes.
      const w = new BufferWriter(64);
      p.writeStruct(w, desc, value);
      assert.equal(w.view().toString('hex'), e.hex, `${e.struct}/${e.proto} re-encoded`);
      // skipStruct agrees on the length
      const s = new BufferReader(bytes);
      p.skipStruct(s);
      assert.equal(s.pos, bytes.length);
    }
  });
});
