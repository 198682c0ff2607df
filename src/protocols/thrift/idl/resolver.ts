/**
 * Builds the resolved IdlProgram from parsed files: include graph (cycles rejected), declarations
 * by name, typedef chains, field ids, constants and service inheritance.
 */
import * as path from 'node:path';
import {
  SyntaxType,
  type ConstDefinition,
  type EnumDefinition,
  type FieldDefinition,
  type FunctionType,
  type ServiceDefinition,
  type StructDefinition,
  type TextLocation,
  type ThriftStatement,
  type TypedefDefinition,
} from '@creditkarma/thrift-parser';
import type { IdlError } from '../../../core/errors.js';
import { evalConst, typeName, type ConstScope } from './consts.js';
import type { ConstDecl, ConstVal, Decl, EnumDecl, FieldDecl, FunctionDecl, IdlFile, IdlProgram, IdlType, ServiceDecl, StructDecl, TypedefDecl } from './model.js';
import { idlError, STAR_SCOPE, type SourceLoc } from './parse.js';
import type { ParsedFile, ParsedFiles } from './sources.js';

type Resolvable = TypedefDecl | ConstDecl | StructDecl | ServiceDecl;
type DeclAst = TypedefDefinition | ConstDefinition | StructDefinition | ServiceDefinition;

const BASE: Partial<Record<SyntaxType, IdlType['kind']>> = {
  [SyntaxType.BoolKeyword]: 'bool',
  [SyntaxType.ByteKeyword]: 'byte',
  [SyntaxType.I8Keyword]: 'byte',
  [SyntaxType.I16Keyword]: 'i16',
  [SyntaxType.I32Keyword]: 'i32',
  [SyntaxType.I64Keyword]: 'i64',
  [SyntaxType.DoubleKeyword]: 'double',
  [SyntaxType.StringKeyword]: 'string',
  [SyntaxType.BinaryKeyword]: 'binary',
};

export function resolveProgram(sources: ParsedFiles, mainPath: string): IdlProgram {
  return new Resolver(sources).run(path.resolve(mainPath));
}

class Resolver {
  private readonly files: IdlFile[] = [];
  private readonly built = new Map<string, IdlFile>();
  private readonly parsedOf = new Map<IdlFile, ParsedFile>();
  private readonly ast = new Map<Resolvable, DeclAst>();
  private readonly state = new Map<Resolvable, 'busy' | 'done'>();

  constructor(private readonly sources: ParsedFiles) {}

  run(mainPath: string): IdlProgram {
    const main = this.build(mainPath, []);
    for (const file of this.files) for (const decl of file.decls.values()) if (decl.kind !== 'enum') this.ensure(decl);
    return { main, files: this.files };
  }

  // ---- pass 1: files, includes and declaration shells ----

  private build(abs: string, stack: string[]): IdlFile {
    const done = this.built.get(abs);
    if (done) return done;
    const parsed = this.sources.get(abs)!;
    const file: IdlFile = {
      path: abs,
      displayPath: parsed.displayPath,
      prefix: path.basename(abs).replace(/\.thrift$/, ''),
      includes: new Map(),
      namespaces: {},
      decls: new Map(),
    };
    this.parsedOf.set(file, parsed);
    stack.push(abs);
    for (const stmt of parsed.doc.body) this.declare(file, parsed, stmt, stack);
    stack.pop();
    this.built.set(abs, file);
    this.files.push(file);
    return file;
  }

  private declare(file: IdlFile, parsed: ParsedFile, stmt: ThriftStatement, stack: string[]): void {
    const err = (loc: TextLocation, msg: string): IdlError => idlError(file.displayPath, loc.start, msg);
    switch (stmt.type) {
      case SyntaxType.IncludeDefinition: {
        const target = parsed.includes.get(stmt)!;
        if (stack.includes(target)) {
          const cycle = [...stack.slice(stack.indexOf(target)), target].map((p) => path.basename(p)).join(' -> ');
          throw err(stmt.loc, `include cycle: ${cycle}`);
        }
        const inc = this.build(target, stack);
        const other = file.includes.get(inc.prefix);
        if (other && other !== inc) throw err(stmt.loc, `two included files share the prefix '${inc.prefix}'`);
        file.includes.set(inc.prefix, inc);
        return;
      }
      case SyntaxType.NamespaceDefinition:
        file.namespaces[stmt.scope.value === STAR_SCOPE ? '*' : stmt.scope.value] = stmt.name.value;
        return;
      case SyntaxType.CppIncludeDefinition:
        return;
      default:
        break;
    }
    const name = stmt.name.value;
    if (file.decls.has(name)) throw err(stmt.name.loc, `'${name}' is already declared in this file`);
    if (name.includes('.')) throw err(stmt.name.loc, `invalid name '${name}'`);
    const base = { name, file, loc: stmt.name.loc.start };
    let decl: Decl;
    switch (stmt.type) {
      case SyntaxType.EnumDefinition:
        decl = { ...base, kind: 'enum', members: this.enumMembers(file, stmt) };
        break;
      case SyntaxType.TypedefDefinition:
        decl = { ...base, kind: 'typedef', type: { kind: 'bool' } };
        break;
      case SyntaxType.ConstDefinition:
        decl = { ...base, kind: 'const', type: { kind: 'bool' }, value: { kind: 'bool', value: false } };
        break;
      case SyntaxType.StructDefinition:
        decl = { ...base, kind: 'struct', fields: [] };
        break;
      case SyntaxType.UnionDefinition:
        decl = { ...base, kind: 'union', fields: [] };
        break;
      case SyntaxType.ExceptionDefinition:
        decl = { ...base, kind: 'exception', fields: [] };
        break;
      case SyntaxType.ServiceDefinition:
        decl = { ...base, kind: 'service', parent: undefined, functions: [] };
        break;
    }
    // Unions and exceptions share StructDefinition's shape.
    if (decl.kind !== 'enum') this.ast.set(decl, stmt as DeclAst);
    file.decls.set(name, decl);
  }

  /** Thrift numbering: an implicit value is the previous one plus one (the first is 0). */
  private enumMembers(file: IdlFile, stmt: EnumDefinition): EnumDecl['members'] {
    const members: { name: string; value: number }[] = [];
    let next = 0n;
    for (const m of stmt.members) {
      const err = (msg: string): IdlError => idlError(file.displayPath, m.name.loc.start, msg);
      let value = next;
      if (m.initializer) {
        const text = m.initializer.value.value;
        value = text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
      }
      if (value < -(2n ** 31n) || value >= 2n ** 31n) throw err(`enum value ${value} is out of the i32 range`);
      if (members.some((x) => x.name === m.name.value)) throw err(`duplicate enum member '${m.name.value}' in ${stmt.name.value}`);
      members.push({ name: m.name.value, value: Number(value) });
      next = value + 1n;
    }
    return members;
  }

  // ---- pass 2: lazy resolution (forward references work; true cycles are reported) ----

  private ensure(decl: Resolvable): void {
    const st = this.state.get(decl);
    if (st === 'done') return;
    if (st === 'busy') throw idlError(decl.file.displayPath, decl.loc, `'${decl.name}' is defined in terms of itself`);
    this.state.set(decl, 'busy');
    const node = this.ast.get(decl)!;
    switch (decl.kind) {
      case 'typedef':
        decl.type = this.type(decl.file, (node as TypedefDefinition).definitionType);
        break;
      case 'const': {
        const c = node as ConstDefinition;
        decl.type = this.type(decl.file, c.fieldType);
        decl.value = evalConst(this.scope(decl.file), decl.type, c.initializer);
        break;
      }
      case 'struct':
      case 'union':
      case 'exception':
        decl.fields = this.fields(decl.file, (node as StructDefinition).fields, `${decl.kind} ${decl.name}`);
        break;
      case 'service':
        this.service(decl, node as ServiceDefinition);
        break;
    }
    this.state.set(decl, 'done');
  }

  /** `Name` in this file, or `prefix.Name` in a directly included file. */
  private lookup(file: IdlFile, name: string): Decl | undefined {
    const local = file.decls.get(name);
    if (local) return local;
    const dot = name.indexOf('.');
    if (dot < 0) return undefined;
    return file.includes.get(name.slice(0, dot))?.decls.get(name.slice(dot + 1));
  }

  private type(file: IdlFile, node: FunctionType): IdlType {
    const err = (msg: string): IdlError => idlError(file.displayPath, node.loc.start, msg);
    const base = BASE[node.type];
    if (base) return { kind: base } as IdlType;
    switch (node.type) {
      case SyntaxType.ListType:
        return { kind: 'list', elem: this.type(file, node.valueType) };
      case SyntaxType.SetType:
        return { kind: 'set', elem: this.type(file, node.valueType) };
      case SyntaxType.MapType:
        return { kind: 'map', key: this.type(file, node.keyType), value: this.type(file, node.valueType) };
      case SyntaxType.VoidKeyword:
        throw err(`'void' is only allowed as a function's return type`);
      case SyntaxType.Identifier: {
        const decl = this.lookup(file, node.value);
        if (!decl) throw err(`unknown type '${node.value}'`);
        switch (decl.kind) {
          case 'typedef':
            this.ensure(decl);
            return { ...decl.type, typedef: decl };
          case 'enum':
            return { kind: 'enum', decl };
          case 'struct':
          case 'union':
          case 'exception':
            return { kind: 'struct', decl };
          default:
            throw err(`'${node.value}' is a ${decl.kind}, not a type`);
        }
      }
      default:
        throw err(`unsupported type ${node.type}`);
    }
  }

  private fields(file: IdlFile, nodes: readonly FieldDefinition[], owner: string): FieldDecl[] {
    const out: FieldDecl[] = [];
    let implicitId = -1; // Apache Thrift gives fields without an id negative ids, counting down.
    for (const f of nodes) {
      const err = (msg: string): IdlError => idlError(file.displayPath, (f.fieldID ?? f.name).loc.start, msg);
      let id: number;
      if (f.fieldID) {
        id = f.fieldID.value;
        if (id <= 0 || id > 32767) throw err(`field id ${id} of '${f.name.value}' in ${owner} must be between 1 and 32767`);
      } else id = implicitId--;
      const dupId = out.find((x) => x.id === id);
      if (dupId) throw err(`duplicate field id ${id} in ${owner} ('${dupId.name}' and '${f.name.value}')`);
      if (out.some((x) => x.name === f.name.value)) throw err(`duplicate field name '${f.name.value}' in ${owner}`);
      const type = this.type(file, f.fieldType);
      const fd: { -readonly [K in keyof FieldDecl]: FieldDecl[K] } = { id, name: f.name.value, type, requiredness: f.requiredness ?? 'default' };
      if (f.defaultValue) fd.defaultValue = evalConst(this.scope(file), type, f.defaultValue);
      out.push(fd);
    }
    return out;
  }

  private service(decl: ServiceDecl, node: ServiceDefinition): void {
    const file = decl.file;
    if (node.extends) {
      const parent = this.lookup(file, node.extends.value);
      if (!parent) throw idlError(file.displayPath, node.extends.loc.start, `unknown service '${node.extends.value}'`);
      if (parent.kind !== 'service') throw idlError(file.displayPath, node.extends.loc.start, `'${node.extends.value}' is a ${parent.kind}, not a service`);
      this.ensure(parent);
      decl.parent = parent;
    }
    const inherited = new Set<string>();
    for (let s = decl.parent; s; s = s.parent) for (const fn of s.functions) inherited.add(fn.name);
    for (const fn of node.functions) {
      const name = fn.name.value;
      const err = (msg: string): IdlError => idlError(file.displayPath, fn.name.loc.start, msg);
      if (decl.functions.some((x) => x.name === name)) throw err(`duplicate function '${name}' in service ${decl.name}`);
      if (inherited.has(name)) throw err(`function '${name}' of service ${decl.name} is already defined by a parent service`);
      const returns = fn.returnType.type === SyntaxType.VoidKeyword ? null : this.type(file, fn.returnType);
      const params = this.fields(file, fn.fields, `the parameters of ${decl.name}.${name}`);
      const throws = this.fields(file, fn.throws, `the throws of ${decl.name}.${name}`);
      for (const t of throws) {
        if (t.type.kind !== 'struct' || t.type.decl.kind !== 'exception') throw err(`'${t.name}' in the throws of ${name} is ${typeName(t.type)}, not an exception`);
      }
      if (fn.oneway && (returns !== null || throws.length > 0)) throw err(`oneway function '${name}' must return void and throw nothing`);
      const fd: FunctionDecl = { name, oneway: fn.oneway, returns, params, throws };
      decl.functions.push(fd);
    }
  }

  private scope(file: IdlFile): ConstScope {
    const source = this.parsedOf.get(file)!.source;
    return {
      reference: (name, _loc) => this.reference(file, name),
      rawText: (loc) => source.slice(loc.start.index, loc.end.index),
      fieldsOf: (decl) => {
        this.ensure(decl);
        return decl.fields;
      },
      error: (loc: SourceLoc, message: string) => idlError(file.displayPath, loc, message),
    };
  }

  /** A constant (`NAME`, `inc.NAME`) or an enum member (`Enum.M`, `inc.Enum.M`). */
  private reference(file: IdlFile, name: string): ConstVal | undefined {
    const decl = this.lookup(file, name);
    if (decl?.kind === 'const') {
      this.ensure(decl);
      return decl.value;
    }
    const dot = name.lastIndexOf('.');
    if (dot < 0) return undefined;
    const owner = this.lookup(file, name.slice(0, dot));
    if (owner?.kind !== 'enum') return undefined;
    const member = owner.members.find((m) => m.name === name.slice(dot + 1));
    return member ? { kind: 'int', value: BigInt(member.value) } : undefined;
  }
}
