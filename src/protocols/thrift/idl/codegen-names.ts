/**
 * Naming rules of generated TypeScript. Thrift identifiers are valid JS identifiers, but some are
 * reserved in TypeScript or would shadow a name the generated code itself uses; those get a `_`
 * suffix (`class` → `class_`, a struct `Map` → `Map_`). Property and method names are kept as in
 * the IDL, since any identifier is a valid property name.
 */
import { idlError } from './parse.js';
import type { Decl, IdlFile } from './model.js';

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with implements interface let package private ' +
    'protected public static yield await arguments eval any unknown never object symbol bigint number string boolean undefined'
  ).split(' '),
);

/** Names generated modules use at top level (runtime imports and globals). */
const TAKEN = new Set([
  'T',
  'ThriftException',
  'StructDesc',
  'ServiceDesc',
  'CallOptions',
  'ServerCallContext',
  'Map',
  'Set',
  'Array',
  'Promise',
  'Buffer',
  'Record',
  'Partial',
  'Readonly',
  'Error',
  'Object',
  'String',
  'Number',
  'Boolean',
  'BigInt',
  'Symbol',
  'globalThis',
  'NaN',
  'Infinity',
]);

/** A safe local variable / parameter name. */
export function safeIdent(name: string): string {
  return RESERVED.has(name) ? `${name}_` : name;
}

/** Top-level names of one generated file. */
export class FileNames {
  private readonly names = new Map<Decl, string>();
  readonly aliases = new Map<string, string>();

  constructor(readonly file: IdlFile) {
    for (const prefix of file.includes.keys()) this.aliases.set(prefix, TAKEN.has(prefix) ? `${prefix}_` : safeIdent(prefix));
    const aliasSet = new Set(this.aliases.values());
    const used = new Map<string, string>();
    const claim = (n: string, what: string, decl: Decl): void => {
      const prev = used.get(n);
      if (prev) throw idlError(file.displayPath, decl.loc, `generated name '${n}' (for ${what}) clashes with the one for ${prev}`);
      used.set(n, what);
    };
    for (const alias of aliasSet) used.set(alias, `the include prefix '${alias}'`);
    for (const decl of file.decls.values()) {
      if (decl.kind === 'typedef' || decl.kind === 'const' || decl.kind === 'enum' || decl.kind === 'struct' || decl.kind === 'union' || decl.kind === 'exception' || decl.kind === 'service') {
        let n = decl.name;
        if (RESERVED.has(n) || TAKEN.has(n) || aliasSet.has(n)) n = `${n}_`;
        this.names.set(decl, n);
        for (const suffix of suffixes(decl)) claim(n + suffix, `${decl.kind} ${decl.name}`, decl);
      }
    }
  }

  of(decl: Decl): string {
    return this.names.get(decl)!;
  }
}

function suffixes(decl: Decl): string[] {
  switch (decl.kind) {
    case 'struct':
    case 'union':
      return ['', 'Desc', 'Input'];
    case 'exception':
      return ['', 'Desc'];
    case 'service':
      return ['', 'Client', 'Handler'];
    default:
      return [''];
  }
}
