import type { ConstVal, IdlType } from './model.js';

/**
 * A constant as a fresh run-time value (i64 → bigint, set → Set, map → Map, binary → Buffer,
 * enum → number, struct → plain object). Call it per use: containers are never shared.
 */
export function materialize(type: IdlType, v: ConstVal): unknown {
  switch (type.kind) {
    case 'i64':
      return (v as Extract<ConstVal, { kind: 'int' }>).value;
    case 'byte':
    case 'i16':
    case 'i32':
    case 'enum':
      return Number((v as Extract<ConstVal, { kind: 'int' }>).value);
    case 'double':
    case 'bool':
    case 'string':
      return (v as Extract<ConstVal, { kind: 'double' | 'bool' | 'string' }>).value;
    case 'binary':
      return Buffer.from((v as Extract<ConstVal, { kind: 'string' }>).value, 'utf8');
    case 'list':
      return (v as Extract<ConstVal, { kind: 'list' }>).elems.map((e) => materialize(type.elem, e));
    case 'set':
      return new Set((v as Extract<ConstVal, { kind: 'list' }>).elems.map((e) => materialize(type.elem, e)));
    case 'map':
      return new Map((v as Extract<ConstVal, { kind: 'map' }>).entries.map(([k, x]) => [materialize(type.key, k), materialize(type.value, x)]));
    case 'struct': {
      const out: Record<string, unknown> = {};
      for (const f of (v as Extract<ConstVal, { kind: 'struct' }>).fields) {
        out[f.name] = materialize(type.decl.fields.find((fd) => fd.name === f.name)!.type, f.value);
      }
      return out;
    }
  }
}
