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

/** Base class of all declared Thrift exceptions (generated code extends it). */
export class ThriftException extends DeclaredError {
  /** The IDL name of the exception type. */
  readonly thriftName: string;

  constructor(thriftName: string, fields?: Record<string, unknown>) {
    super(typeof fields?.['message'] === 'string' ? (fields['message'] as string) : thriftName);
    this.thriftName = thriftName;
    // defineProperty, not assignment: a field may be called `name` (a getter here) or `stack`.
    if (fields) {
      for (const key of Object.keys(fields)) {
        Object.defineProperty(this, key, { value: fields[key], writable: true, enumerable: true, configurable: true });
      }
    }
  }

  override get name(): string {
    return this.thriftName;
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
