/**
 * Run-time descriptions of Thrift types, structs and services. Generated code (`scales gen`)
 * emits these as constants; `loadIdl()` builds the same objects from a .thrift file at run time.
 * The codecs walk them, so both paths share one (fast) implementation.
 *
 * Value mapping (documented in docs/thrift.md):
 *   bool → boolean, byte/i16/i32/double → number, i64 → bigint, string → string (UTF-8),
 *   binary → Buffer (any Uint8Array accepted on write), list → Array, set → Set, map → Map,
 *   enum → number, struct/union → plain object, exception → instance of a ThriftException subclass.
 */
import { DeclaredError } from '../../core/errors.js';

/** Wire type ids shared by the binary protocol (the compact protocol maps them to its own). */
export const TType = {
  STOP: 0,
  VOID: 1,
  BOOL: 2,
  BYTE: 3,
  DOUBLE: 4,
  I16: 6,
  I32: 8,
  I64: 10,
  STRING: 11,
  STRUCT: 12,
  MAP: 13,
  SET: 14,
  LIST: 15,
  UUID: 16,
} as const;
export type TType = (typeof TType)[keyof typeof TType];

export const MessageType = {
  CALL: 1,
  REPLY: 2,
  EXCEPTION: 3,
  ONEWAY: 4,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export type TypeDesc =
  | { readonly kind: 'bool' }
  | { readonly kind: 'byte' }
  | { readonly kind: 'i16' }
  | { readonly kind: 'i32' }
  | { readonly kind: 'i64' }
  | { readonly kind: 'double' }
  | { readonly kind: 'string' }
  | { readonly kind: 'binary' }
  | { readonly kind: 'enum'; readonly name: string; readonly values: Readonly<Record<string, number>> }
  | { readonly kind: 'list'; readonly elem: TypeDesc }
  | { readonly kind: 'set'; readonly elem: TypeDesc }
  | { readonly kind: 'map'; readonly key: TypeDesc; readonly value: TypeDesc }
  /** `struct` is a thunk so that recursive and forward references work. */
  | { readonly kind: 'struct'; readonly struct: () => StructDesc };

export type FieldRequiredness = 'required' | 'optional' | 'default';

export interface FieldDesc {
  readonly id: number;
  readonly name: string;
  readonly type: TypeDesc;
  readonly requiredness: FieldRequiredness;
  /** Produces a fresh default value (fresh so containers are never shared between objects). */
  readonly defaultValue?: () => unknown;
}

export interface StructDesc {
  readonly name: string;
  readonly kind: 'struct' | 'union' | 'exception';
  /** In declaration order. */
  readonly fields: readonly FieldDesc[];
  /**
   * Builds the value a decoder returns from the decoded fields. Absent for plain structs and
   * unions (the field object itself is the value); exceptions use it to make Error instances.
   */
  readonly create?: (fields: Record<string, unknown>) => object;
}

export interface MethodDesc {
  readonly name: string;
  readonly oneway: boolean;
  /** `<method>_args`: one field per parameter, in declaration order. */
  readonly args: StructDesc;
  /** `<method>_result`: field 0 `success` (absent for void) then one field per declared exception. */
  readonly result: StructDesc;
  /** Parameter names in order (positional client calls map onto these). */
  readonly params: readonly string[];
}

/**
 * A service and, as phantom types, the client and handler interfaces generated for it, so
 * `Thrift.newClient(UserService, ...)` is typed without casts.
 */
export interface ServiceDesc<Client = unknown, Handler = unknown> {
  readonly name: string;
  /** Own methods plus inherited ones (`extends`), by name. */
  readonly methods: Readonly<Record<string, MethodDesc>>;
  readonly extends?: ServiceDesc;
  /** Never set at run time: carries the generated interfaces for type inference. */
  readonly __types?: { client: Client; handler: Handler };
}

/**
 * Base class of all declared Thrift exceptions (generated code extends it). Its IDL fields are
 * own enumerable properties, set only when given; `Error`'s own `message`, `name` and `stack`
 * are not fields, so they never go on the wire (the encoder reads those names only when a field
 * of that name was set). `message` shows the IDL field `message` when there is one, else the type
 * name and the fields that are set (`Xception {errorCode: 1002}`).
 */
export class ThriftException extends DeclaredError {
  /** The IDL name of the exception type. */
  readonly thriftName: string;
  /** `Error.message` while no IDL field `message` is set. */
  #text: string;

  constructor(thriftName: string, fields?: Record<string, unknown>) {
    const text = describeException(thriftName, fields);
    super(text);
    this.#text = text;
    this.thriftName = thriftName;
    // Error's own `message` would hide the accessors below (and look like a set field).
    delete (this as { message?: string }).message;
    // defineProperty, not assignment: a field may be called `name` (a getter here) or `stack`.
    if (fields) {
      for (const key of Object.keys(fields)) {
        if (fields[key] !== undefined) setField(this, key, fields[key]);
      }
    }
  }

  override get message(): string {
    return this.#text;
  }

  /** `e.message = 'x'` sets the IDL field `message` (as passing it to the constructor does). */
  override set message(value: string) {
    setField(this, 'message', value);
  }

  override get name(): string {
    return this.thriftName;
  }

  /** `e.name = 'x'` sets the IDL field `name` (there is no other reason to assign it). */
  override set name(value: string) {
    setField(this, 'name', value);
  }
}

/** The IDL field `key`, as an own enumerable property (what the encoder writes). */
function setField(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** `Error.message` of an exception: its string field `message`, else the type and its set fields. */
function describeException(thriftName: string, fields: Record<string, unknown> | undefined): string {
  const message = fields?.['message'];
  if (typeof message === 'string') return message;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (value === undefined || value === null) continue;
    parts.push(`${key}: ${brief(value)}`);
    if (parts.length === 8) {
      parts.push('...');
      break;
    }
  }
  return parts.length > 0 ? `${thriftName} {${parts.join(', ')}}` : thriftName;
}

function brief(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
    case 'bigint':
      return `${v}n`;
    case 'number':
    case 'boolean':
      return String(v);
    case 'object':
      if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
      if (Array.isArray(v)) return `[${v.length} items]`;
      if (v instanceof Map || v instanceof Set) return `${v.constructor.name}(${v.size})`;
      return '{...}';
    default:
      return typeof v;
  }
}

// Helpers that generated code and loadIdl() both use, so descriptors read the same either way.
export const T = {
  bool: { kind: 'bool' } as const,
  byte: { kind: 'byte' } as const,
  i16: { kind: 'i16' } as const,
  i32: { kind: 'i32' } as const,
  i64: { kind: 'i64' } as const,
  double: { kind: 'double' } as const,
  string: { kind: 'string' } as const,
  binary: { kind: 'binary' } as const,
  list: (elem: TypeDesc): TypeDesc => ({ kind: 'list', elem }),
  set: (elem: TypeDesc): TypeDesc => ({ kind: 'set', elem }),
  map: (key: TypeDesc, value: TypeDesc): TypeDesc => ({ kind: 'map', key, value }),
  struct: (struct: () => StructDesc): TypeDesc => ({ kind: 'struct', struct }),
  enum: (name: string, values: Readonly<Record<string, number>>): TypeDesc => ({ kind: 'enum', name, values }),
};
