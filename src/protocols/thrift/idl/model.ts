/**
 * The resolved program both back ends read: `loadIdl()` turns it into run-time descriptors and
 * `generateTypeScript()` into source. Typedefs are resolved away (the alias is remembered for
 * codegen), names point at their declarations, constants are evaluated against their types.
 */
import type { SourceLoc } from './parse.js';

export type BaseKind = 'bool' | 'byte' | 'i16' | 'i32' | 'i64' | 'double' | 'string' | 'binary';

/** `typedef`: the alias a type was written through (outermost), for readable generated code. */
interface Aliased {
  readonly typedef?: TypedefDecl;
}

export type IdlType =
  | ({ readonly kind: BaseKind } & Aliased)
  | ({ readonly kind: 'list' | 'set'; readonly elem: IdlType } & Aliased)
  | ({ readonly kind: 'map'; readonly key: IdlType; readonly value: IdlType } & Aliased)
  | ({ readonly kind: 'enum'; readonly decl: EnumDecl } & Aliased)
  | ({ readonly kind: 'struct'; readonly decl: StructDecl } & Aliased);

/** A constant value checked against its type (ints are exact; the type decides number vs bigint). */
export type ConstVal =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'list'; readonly elems: readonly ConstVal[] }
  | { readonly kind: 'map'; readonly entries: readonly (readonly [ConstVal, ConstVal])[] }
  | { readonly kind: 'struct'; readonly fields: readonly { readonly name: string; readonly value: ConstVal }[] };

interface DeclBase {
  readonly name: string;
  readonly file: IdlFile;
  readonly loc: SourceLoc;
}

export interface EnumDecl extends DeclBase {
  readonly kind: 'enum';
  /** In declaration order. */
  readonly members: readonly { readonly name: string; readonly value: number }[];
}

export interface TypedefDecl extends DeclBase {
  readonly kind: 'typedef';
  type: IdlType;
}

export interface ConstDecl extends DeclBase {
  readonly kind: 'const';
  type: IdlType;
  value: ConstVal;
}

export type Requiredness = 'required' | 'optional' | 'default';

export interface FieldDecl {
  readonly id: number;
  readonly name: string;
  readonly type: IdlType;
  readonly requiredness: Requiredness;
  readonly defaultValue?: ConstVal;
}

export interface StructDecl extends DeclBase {
  readonly kind: 'struct' | 'union' | 'exception';
  fields: FieldDecl[];
}

export interface FunctionDecl {
  readonly name: string;
  readonly oneway: boolean;
  /** `null` for void. */
  readonly returns: IdlType | null;
  readonly params: readonly FieldDecl[];
  readonly throws: readonly FieldDecl[];
}

export interface ServiceDecl extends DeclBase {
  readonly kind: 'service';
  parent: ServiceDecl | undefined;
  functions: FunctionDecl[];
}

export type Decl = EnumDecl | TypedefDecl | ConstDecl | StructDecl | ServiceDecl;

export interface IdlFile {
  /** Absolute path. */
  readonly path: string;
  /** Path used in messages (relative to the working directory when shorter). */
  readonly displayPath: string;
  /** The include prefix: the file name without `.thrift` (`shared` for shared.thrift). */
  readonly prefix: string;
  /** Directly included files by prefix. */
  readonly includes: Map<string, IdlFile>;
  readonly namespaces: Record<string, string>;
  /** Every declaration by name, in declaration order. */
  readonly decls: Map<string, Decl>;
}

export interface IdlProgram {
  readonly main: IdlFile;
  /** Every file, each after the files it includes; `main` is last. */
  readonly files: readonly IdlFile[];
}

/** All functions of a service, the inherited ones first (base-most service first). */
export function allFunctions(service: ServiceDecl): FunctionDecl[] {
  const chain: ServiceDecl[] = [];
  for (let s: ServiceDecl | undefined = service; s; s = s.parent) chain.unshift(s);
  return chain.flatMap((s) => s.functions);
}
