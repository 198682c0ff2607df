/**
 * TApplicationException: the struct a Thrift server sends in an EXCEPTION message when the
 * call failed outside the IDL (unknown method, handler crash, bad input), and its client-side
 * error, ThriftApplicationError.
 */
import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import { ScalesError, type ScalesErrorOptions } from '../../core/errors.js';
import { T, type StructDesc } from './descriptors.js';
import type { ThriftProtocol } from './protocol.js';

/** The type codes every Apache Thrift library uses. */
export const TApplicationExceptionType = {
  UNKNOWN: 0,
  UNKNOWN_METHOD: 1,
  INVALID_MESSAGE_TYPE: 2,
  WRONG_METHOD_NAME: 3,
  BAD_SEQUENCE_ID: 4,
  MISSING_RESULT: 5,
  INTERNAL_ERROR: 6,
  PROTOCOL_ERROR: 7,
  INVALID_TRANSFORM: 8,
  INVALID_PROTOCOL: 9,
  UNSUPPORTED_CLIENT_TYPE: 10,
} as const;
export type TApplicationExceptionType = (typeof TApplicationExceptionType)[keyof typeof TApplicationExceptionType];

/** `exception TApplicationException { 1: string message, 2: i32 type }` */
export const TApplicationExceptionDesc: StructDesc = {
  name: 'TApplicationException',
  kind: 'struct',
  fields: [
    { id: 1, name: 'message', type: T.string, requiredness: 'default' },
    { id: 2, name: 'type', type: T.i32, requiredness: 'default' },
  ],
};

const TYPE_NAMES: readonly string[] = Object.keys(TApplicationExceptionType);

/** The peer reported a TApplicationException (or the reply could not satisfy the call). */
export class ThriftApplicationError extends ScalesError {
  /** One of TApplicationExceptionType (other numbers pass through as the peer sent them). */
  readonly type: number;
  /**
   * `UNKNOWN_METHOD` etc., or `TYPE_<n>` for codes outside the standard set. An own property, so
   * logs and `util.inspect` show it next to the number.
   */
  readonly typeName: string;

  constructor(type: number, message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_APPLICATION', message, options);
    this.type = type;
    this.typeName = TYPE_NAMES[type] ?? `TYPE_${type}`;
  }
}

/** Writes the TApplicationException struct (the message header is the caller's). */
export function encodeApplicationException(protocol: ThriftProtocol, w: BufferWriter, type: number, message: string): void {
  protocol.writeStruct(w, TApplicationExceptionDesc, { message, type });
}

/** Reads the TApplicationException struct that follows an EXCEPTION message header. */
export function decodeApplicationException(protocol: ThriftProtocol, r: BufferReader, options?: ScalesErrorOptions): ThriftApplicationError {
  const s = protocol.readStruct(r, TApplicationExceptionDesc) as { message?: string; type?: number };
  const type = s.type ?? TApplicationExceptionType.UNKNOWN;
  return new ThriftApplicationError(type, s.message ?? `TApplicationException type ${type}`, options);
}
