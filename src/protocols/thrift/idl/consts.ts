/**
 * Constant evaluation: a parsed constant value (literal, list, map, reference to a const or an
 * enum member) is checked against the type it initialises and normalised into a ConstVal.
 */
import { SyntaxType, type ConstValue } from '@creditkarma/thrift-parser';
import type { IdlError } from '../../../core/errors.js';
import type { ConstVal, EnumDecl, IdlType, StructDecl } from './model.js';
import type { SourceLoc } from './parse.js';

/** What evaluation needs from the resolver. */
export interface ConstScope {
  /** The value of a referenced constant or enum member, or undefined when the name is neither. */
  reference(name: string, loc: SourceLoc): ConstVal | undefined;
  /** Raw source text of a string literal (quotes included), for exact unescaping. */
  rawText(loc: { start: { index: number }; end: { index: number } }): string;
  /** Makes sure a struct's fields are resolved (struct constants name its fields). */
  fieldsOf(decl: StructDecl): StructDecl['fields'];
  error(loc: SourceLoc, message: string): IdlError;
}

const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  byte: [-(2n ** 7n), 2n ** 7n - 1n],
  i16: [-(2n ** 15n), 2n ** 15n - 1n],
  i32: [-(2n ** 31n), 2n ** 31n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
};

export function typeName(t: IdlType): string {
  switch (t.kind) {
    case 'list':
    case 'set':
      return `${t.kind}<${typeName(t.elem)}>`;
    case 'map':
      return `map<${typeName(t.key)}, ${typeName(t.value)}>`;
    case 'enum':
    case 'struct':
      return t.decl.name;
    default:
      return t.kind;
  }
}

/** Parses the node into an untyped value (references resolved), then checks it against `type`. */
export function evalConst(scope: ConstScope, type: IdlType, node: ConstValue): ConstVal {
  return coerce(scope, type, toVal(scope, node), node.loc.start);
}

function toVal(scope: ConstScope, node: ConstValue): ConstVal {
  switch (node.type) {
    case SyntaxType.BooleanLiteral:
      return { kind: 'bool', value: node.value };
    case SyntaxType.IntConstant:
      return { kind: 'int', value: parseIntLiteral(node.value.value) };
    case SyntaxType.DoubleConstant:
      return { kind: 'double', value: Number(node.value.value) };
    case SyntaxType.StringLiteral:
      return { kind: 'string', value: unescapeLiteral(scope, scope.rawText(node.loc), node.loc.start) };
    case SyntaxType.ConstList:
      return { kind: 'list', elems: node.elements.map((e) => toVal(scope, e)) };
    case SyntaxType.ConstMap:
      return { kind: 'map', entries: node.properties.map((p) => [toVal(scope, p.name), toVal(scope, p.initializer)] as const) };
    case SyntaxType.Identifier: {
      const v = scope.reference(node.value, node.loc.start);
      if (v === undefined) throw scope.error(node.loc.start, `unknown constant or enum value '${node.value}'`);
      return v;
    }
  }
}

/** A Thrift integer literal (any size, optional sign) as a bigint. */
function parseIntLiteral(text: string): bigint {
  const neg = text.startsWith('-');
  const body = neg || text.startsWith('+') ? text.slice(1) : text;
  const v = BigInt(body);
  return neg ? -v : v;
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", n: '\n', r: '\r', t: '\t' };

/** Apache Thrift's escapes: \\ \" \' \n \r \t; anything else is an error, as in the thrift compiler. */
function unescapeLiteral(scope: ConstScope, raw: string, loc: SourceLoc): string {
  const body = raw.slice(1, -1);
  if (!body.includes('\\')) return body;
  return body.replace(/\\(.?)/gs, (_m, c: string) => {
    const out = ESCAPES[c];
    if (out === undefined) throw scope.error(loc, `bad escape character '\\${c}' in string literal`);
    return out;
  });
}

function coerce(scope: ConstScope, type: IdlType, v: ConstVal, loc: SourceLoc): ConstVal {
  const mismatch = (): IdlError => scope.error(loc, `constant value ${describe(v)} does not fit type ${typeName(type)}`);
  switch (type.kind) {
    case 'bool':
      if (v.kind === 'bool') return v;
      if (v.kind === 'int' && (v.value === 0n || v.value === 1n)) return { kind: 'bool', value: v.value === 1n };
      throw mismatch();
    case 'byte':
    case 'i16':
    case 'i32':
    case 'i64': {
      const [lo, hi] = INT_RANGES[type.kind]!;
      if (v.kind !== 'int') throw mismatch();
      if (v.value < lo || v.value > hi) throw scope.error(loc, `constant ${v.value} is out of range for ${type.kind}`);
      return v;
    }
    case 'double':
      if (v.kind === 'double') return v;
      if (v.kind === 'int') return { kind: 'double', value: Number(v.value) };
      throw mismatch();
    case 'string':
    case 'binary':
      if (v.kind === 'string') return v;
      throw mismatch();
    case 'enum':
      return enumValue(scope, type.decl, v, loc, mismatch);
    case 'list':
    case 'set':
      // Apache writes `{}` for an empty list or set too (ThriftTest.thrift: `set<binary> bin_set = {}`).
      if (v.kind === 'map' && v.entries.length === 0) return { kind: 'list', elems: [] };
      if (v.kind !== 'list') throw mismatch();
      return { kind: 'list', elems: v.elems.map((e) => coerce(scope, type.elem, e, loc)) };
    case 'map':
      if (v.kind !== 'map') throw mismatch();
      return { kind: 'map', entries: v.entries.map(([k, x]) => [coerce(scope, type.key, k, loc), coerce(scope, type.value, x, loc)] as const) };
    case 'struct':
      return structValue(scope, type.decl, v, loc, mismatch);
  }
}

function enumValue(scope: ConstScope, decl: EnumDecl, v: ConstVal, loc: SourceLoc, mismatch: () => IdlError): ConstVal {
  if (v.kind !== 'int') throw mismatch();
  if (!decl.members.some((m) => BigInt(m.value) === v.value)) throw scope.error(loc, `${v.value} is not a value of enum ${decl.name}`);
  return v;
}

function structValue(scope: ConstScope, decl: StructDecl, v: ConstVal, loc: SourceLoc, mismatch: () => IdlError): ConstVal {
  let pairs: (readonly [string, ConstVal])[];
  if (v.kind === 'struct') pairs = v.fields.map((f) => [f.name, f.value] as const);
  else if (v.kind === 'map') {
    pairs = v.entries.map(([k, x]) => {
      if (k.kind !== 'string') throw scope.error(loc, `struct constant keys must be field names (strings), got ${describe(k)}`);
      return [k.value, x] as const;
    });
  } else throw mismatch();
  if (decl.kind === 'exception') throw scope.error(loc, `constants of exception type (${decl.name}) are not supported`);
  const fields = scope.fieldsOf(decl);
  const given = new Map<string, ConstVal>();
  for (const [name, x] of pairs) {
    const fd = fields.find((f) => f.name === name);
    if (!fd) throw scope.error(loc, `${decl.kind} ${decl.name} has no field '${name}'`);
    if (given.has(name)) throw scope.error(loc, `field '${name}' is set twice`);
    given.set(name, coerce(scope, fd.type, x, loc));
  }
  if (decl.kind === 'union') {
    if (given.size > 1) throw scope.error(loc, `union ${decl.name} constant sets ${given.size} fields (at most one)`);
    return { kind: 'struct', fields: [...given].map(([name, value]) => ({ name, value })) };
  }
  // Like a constructed struct in other Thrift languages: defaults fill the fields not given.
  const out: { name: string; value: ConstVal }[] = [];
  for (const fd of fields) {
    const value = given.get(fd.name) ?? (fd.requiredness !== 'optional' ? fd.defaultValue : undefined);
    if (value !== undefined) out.push({ name: fd.name, value });
    else if (fd.requiredness === 'required') throw scope.error(loc, `constant of ${decl.name} misses required field '${fd.name}'`);
  }
  return { kind: 'struct', fields: out };
}

function describe(v: ConstVal): string {
  switch (v.kind) {
    case 'string':
      return JSON.stringify(v.value);
    case 'int':
    case 'double':
    case 'bool':
      return String(v.value);
    default:
      return `(${v.kind})`;
  }
}
