/** Turns a resolved IdlProgram into the run-time descriptors the codecs walk. */
import { T, ThriftException, type FieldDesc, type MethodDesc, type ServiceDesc, type StructDesc, type TypeDesc } from '../descriptors.js';
import type { EnumDecl, FieldDecl, FunctionDecl, IdlFile, IdlProgram, IdlType, ServiceDecl, StructDecl } from './model.js';
import { materialize } from './values.js';

/** A declared exception type, built at run time (handlers throw instances of it). */
export type ThriftExceptionClass = new (fields?: Record<string, unknown>) => ThriftException;

/**
 * Everything one IDL file declares, and the files it includes. Names of the main file's
 * declarations are plain (`Point`); included ones carry their include prefix (`shared.Audit`).
 */
export interface IdlModule {
  readonly services: Record<string, ServiceDesc>;
  readonly structs: Record<string, StructDesc>;
  readonly enums: Record<string, Record<string, number>>;
  readonly consts: Record<string, unknown>;
  /** Classes of the declared exceptions (same keys as `structs`). */
  readonly exceptions: Record<string, ThriftExceptionClass>;
}

export function buildModule(program: IdlProgram): IdlModule {
  return new Builder(program).run();
}

class Builder {
  private readonly structDescs = new Map<StructDecl, StructDesc>();
  private readonly enumValues = new Map<EnumDecl, Readonly<Record<string, number>>>();
  private readonly serviceDescs = new Map<ServiceDecl, ServiceDesc>();
  private readonly classes = new Map<StructDecl, ThriftExceptionClass>();
  private readonly module: IdlModule = { services: {}, structs: {}, enums: {}, consts: {}, exceptions: {} };

  constructor(private readonly program: IdlProgram) {}

  run(): IdlModule {
    const m = this.module;
    for (const file of this.program.files) {
      for (const decl of file.decls.values()) {
        const key = this.key(file, decl.name);
        switch (decl.kind) {
          case 'enum':
            m.enums[key] = { ...this.enumOf(decl) };
            break;
          case 'const':
            m.consts[key] = materialize(decl.type, decl.value);
            break;
          case 'struct':
          case 'union':
          case 'exception':
            m.structs[key] = this.structOf(decl);
            if (decl.kind === 'exception') m.exceptions[key] = this.classOf(decl);
            break;
          case 'service':
            m.services[key] = this.serviceOf(decl);
            break;
          case 'typedef':
            break;
        }
      }
    }
    return m;
  }

  private key(file: IdlFile, name: string): string {
    return file === this.program.main ? name : `${file.prefix}.${name}`;
  }

  private enumOf(decl: EnumDecl): Readonly<Record<string, number>> {
    let values = this.enumValues.get(decl);
    if (!values) {
      values = Object.freeze(Object.fromEntries(decl.members.map((m) => [m.name, m.value])));
      this.enumValues.set(decl, values);
    }
    return values;
  }

  private type(t: IdlType): TypeDesc {
    switch (t.kind) {
      case 'list':
        return T.list(this.type(t.elem));
      case 'set':
        return T.set(this.type(t.elem));
      case 'map':
        return T.map(this.type(t.key), this.type(t.value));
      case 'enum':
        return T.enum(t.decl.name, this.enumOf(t.decl));
      case 'struct': {
        const decl = t.decl;
        return T.struct(() => this.structOf(decl));
      }
      default:
        return T[t.kind];
    }
  }

  private field(fd: FieldDecl, requiredness = fd.requiredness): FieldDesc {
    const base = { id: fd.id, name: fd.name, type: this.type(fd.type), requiredness };
    const dv = fd.defaultValue;
    if (dv === undefined) return base;
    const type = fd.type;
    return { ...base, defaultValue: () => materialize(type, dv) };
  }

  private structOf(decl: StructDecl): StructDesc {
    let desc = this.structDescs.get(decl);
    if (desc) return desc;
    // Registered before its fields are built, so self references resolve to the same object.
    const fields: FieldDesc[] = [];
    desc = decl.kind === 'exception' ? { name: decl.name, kind: decl.kind, fields, create: this.creator(decl) } : { name: decl.name, kind: decl.kind, fields };
    this.structDescs.set(decl, desc);
    for (const fd of decl.fields) fields.push(this.field(fd));
    return desc;
  }

  private creator(decl: StructDecl): (fields: Record<string, unknown>) => object {
    return (fields) => new (this.classOf(decl))(fields);
  }

  private classOf(decl: StructDecl): ThriftExceptionClass {
    let cls = this.classes.get(decl);
    if (cls) return cls;
    const name = decl.name;
    // Fields with a default (unless optional) get it, as in the generated classes.
    const defaults = decl.fields.filter((f) => f.defaultValue !== undefined && f.requiredness !== 'optional');
    const named = {
      [name]: class extends ThriftException {
        constructor(fields?: Record<string, unknown>) {
          const all: Record<string, unknown> = {};
          for (const f of defaults) all[f.name] = materialize(f.type, f.defaultValue!);
          super(name, Object.assign(all, fields));
        }
      },
    };
    cls = named[name]!;
    this.classes.set(decl, cls);
    return cls;
  }

  private method(fn: FunctionDecl): MethodDesc {
    const result: FieldDesc[] = [];
    if (fn.returns) result.push({ id: 0, name: 'success', type: this.type(fn.returns), requiredness: 'optional' });
    for (const t of fn.throws) result.push(this.field(t, 'optional'));
    return {
      name: fn.name,
      oneway: fn.oneway,
      args: { name: `${fn.name}_args`, kind: 'struct', fields: fn.params.map((p) => this.field(p)) },
      result: { name: `${fn.name}_result`, kind: 'struct', fields: result },
      params: fn.params.map((p) => p.name),
    };
  }

  private serviceOf(decl: ServiceDecl): ServiceDesc {
    let desc = this.serviceDescs.get(decl);
    if (desc) return desc;
    const parent = decl.parent ? this.serviceOf(decl.parent) : undefined;
    const methods: Record<string, MethodDesc> = { ...parent?.methods };
    for (const fn of decl.functions) methods[fn.name] = this.method(fn);
    desc = parent ? { name: decl.name, methods, extends: parent } : { name: decl.name, methods };
    this.serviceDescs.set(decl, desc);
    return desc;
  }
}
