/**
 * Hand-built descriptors for test/fixtures/idl/rich.thrift (+ shared.thrift) and a small bench
 * struct, used by the codec tests and bench/codec.ts (independent of the IDL loader).
 */
import { T, ThriftException, type FieldDesc, type StructDesc, type TypeDesc } from '../../src/protocols/thrift/descriptors.js';

const f = (id: number, name: string, type: TypeDesc, requiredness: FieldDesc['requiredness'] = 'default', defaultValue?: () => unknown): FieldDesc =>
  defaultValue === undefined ? { id, name, type, requiredness } : { id, name, type, requiredness, defaultValue };

export const Priority = T.enum('Priority', { LOW: 0, MEDIUM: 5, HIGH: 6 });
export const Status = T.enum('Status', { ACTIVE: 1, SUSPENDED: 2, DELETED: 10 });

export const Small: StructDesc = {
  name: 'Small',
  kind: 'struct',
  fields: [f(1, 'id', T.i64), f(2, 'name', T.string), f(3, 'values', T.list(T.i32)), f(4, 'flag', T.bool)],
};

export const Point: StructDesc = {
  name: 'Point',
  kind: 'struct',
  fields: [f(1, 'x', T.i32, 'required'), f(2, 'y', T.i32, 'required')],
};

export const Audit: StructDesc = {
  name: 'Audit',
  kind: 'struct',
  fields: [f(1, 'createdAt', T.i64, 'required'), f(2, 'createdBy', T.string, 'optional', () => 'system')],
};

export const Node: StructDesc = {
  name: 'Node',
  kind: 'struct',
  fields: [f(1, 'label', T.string), f(2, 'children', T.list(T.struct(() => Node)))],
};

const point = T.struct(() => Point);

export const AllTypes: StructDesc = {
  name: 'AllTypes',
  kind: 'struct',
  fields: [
    f(1, 'aBool', T.bool),
    f(2, 'aByte', T.byte),
    f(3, 'anI16', T.i16),
    f(4, 'anI32', T.i32),
    f(5, 'anI64', T.i64),
    f(6, 'aDouble', T.double),
    f(7, 'aString', T.string),
    f(8, 'aBinary', T.binary),
    f(9, 'priority', Priority, 'default', () => 5),
    f(10, 'note', T.string, 'optional'),
    f(11, 'id', T.string, 'required'),
    f(12, 'strings', T.list(T.string)),
    f(13, 'longs', T.set(T.i64)),
    f(14, 'weights', T.map(T.string, T.double)),
    f(15, 'matrix', T.list(T.list(T.i32))),
    f(16, 'pointNames', T.map(point, T.string)),
    f(17, 'pointSet', T.set(point)),
    f(18, 'deep', T.map(T.i32, T.map(T.string, T.list(point)))),
    f(
      19,
      'audit',
      T.struct(() => Audit),
    ),
    f(20, 'ints', T.list(T.i32)),
    f(21, 'statuses', T.map(T.string, T.list(Status))),
    f(22, 'blobs', T.list(T.binary), 'optional'),
    f(23, 'withDefault', T.i32, 'default', () => 42),
    f(24, 'strDefault', T.string, 'default', () => 'dflt'),
    f(25, 'listDefault', T.list(T.i32), 'default', () => [1, 2, 3]),
    f(
      26,
      'tree',
      T.struct(() => Node),
      'optional',
    ),
  ],
};

export const Shape: StructDesc = {
  name: 'Shape',
  kind: 'union',
  fields: [f(1, 'point', point), f(2, 'radius', T.double), f(3, 'name', T.string)],
};

export class NotFound extends ThriftException {
  declare key: string;
  constructor(fields?: Record<string, unknown>) {
    super('NotFound', fields);
  }
}

export const NotFoundDesc: StructDesc = {
  name: 'NotFound',
  kind: 'exception',
  fields: [f(1, 'message', T.string), f(2, 'key', T.string)],
  create: (fields) => new NotFound(fields),
};

/** A fully populated AllTypes (every default field set explicitly, so decode equals input). */
export function richValue(): Record<string, unknown> {
  return {
    aBool: true,
    aByte: -128,
    anI16: -32768,
    anI32: 2147483647,
    anI64: -(2n ** 63n),
    aDouble: -0.5,
    aString: 'héllo wörld ✓ 😀',
    aBinary: Buffer.from([0, 1, 2, 254, 255]),
    priority: 6,
    note: 'a note',
    id: 'id-1',
    strings: ['a', '', 'ünï'],
    longs: new Set([2n ** 63n - 1n, -1n, 0n]),
    weights: new Map([
      ['pi', 3.14159],
      ['neg', -1e300],
    ]),
    matrix: [[1, 2], [], [-3]],
    pointNames: new Map([
      [{ x: 1, y: 2 }, 'one-two'],
      [{ x: -1, y: 0 }, 'left'],
    ]),
    pointSet: new Set([{ x: 0, y: 0 }]),
    deep: new Map([[7, new Map([['k', [{ x: 3, y: 4 }]]])]]),
    audit: { createdAt: 1700000000000n, createdBy: 'me' },
    ints: Array.from({ length: 20 }, (_, i) => i * 1000 - 5000),
    statuses: new Map([['x', [1, 10]]]),
    blobs: [Buffer.alloc(0), Buffer.from('blob')],
    withDefault: 7,
    strDefault: 'set',
    listDefault: [9],
    tree: { label: 'root', children: [{ label: 'leaf', children: [] }] },
  };
}

export function smallValue(): Record<string, unknown> {
  return { id: 1234567890123n, name: 'scales', values: [1, 2, 3, 4, 5, 6, 7, 8], flag: true };
}
