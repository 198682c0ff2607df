/**
 * Every failure Scales itself raises is a ScalesError with a stable `code` (safe to switch on),
 * the remote endpoint when one is involved, and the underlying `cause`.
 * Errors a remote handler raised on purpose (declared Thrift exceptions) are NOT ScalesErrors:
 * they arrive as the user's own exception types, which extend DeclaredError.
 */
export type ScalesErrorCode =
  | 'SCALES_ERR_TIMEOUT'
  | 'SCALES_ERR_CANCELLED'
  | 'SCALES_ERR_CONNECT_TIMEOUT'
  | 'SCALES_ERR_CONNECT'
  | 'SCALES_ERR_CONNECTION_CLOSED'
  | 'SCALES_ERR_FRAME_TOO_LARGE'
  | 'SCALES_ERR_PROTOCOL'
  | 'SCALES_ERR_APPLICATION'
  | 'SCALES_ERR_OVERLOADED'
  | 'SCALES_ERR_CLOSED'
  | 'SCALES_ERR_INVALID_ARGUMENT'
  | 'SCALES_ERR_ADDRESS_IN_USE'
  | 'SCALES_ERR_NO_NODES'
  | 'SCALES_ERR_NODE_UNAVAILABLE'
  | 'SCALES_ERR_IDL';

export interface ScalesErrorOptions {
  cause?: unknown;
  /** `host:port` of the peer the error concerns, when there is one. */
  endpoint?: string;
  /** The request certainly never reached the peer (so a retry cannot run it twice). */
  unwritten?: boolean;
  /** Refused by this process's own admission control (a pool's queue), not by the peer. */
  local?: boolean;
}

export class ScalesError extends Error {
  readonly code: ScalesErrorCode;
  readonly endpoint: string | undefined;
  /** True when the request certainly never reached the peer: retrying it is always safe. */
  readonly unwritten: boolean;
  /**
   * True when this process refused the call itself (a connection pool's queue was full, or the
   * call could not finish before its deadline): it says nothing about the peer's health, so
   * failure accrual does not count it against the node.
   */
  readonly local: boolean;

  constructor(code: ScalesErrorCode, message: string, options: ScalesErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.endpoint = options.endpoint;
    this.unwritten = options.unwritten ?? false;
    this.local = options.local ?? false;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The call's deadline passed before a reply arrived. */
export class TimeoutError extends ScalesError {
  constructor(message = 'call timed out', options?: ScalesErrorOptions) {
    super('SCALES_ERR_TIMEOUT', message, options);
  }
}

/**
 * A peer took too long to send one whole message: its first byte arrived, the rest did not within
 * the read timeout (`frameTimeoutMs`; a slowloris). The connection is closed. Code SCALES_ERR_TIMEOUT.
 */
export class ReadTimeoutError extends TimeoutError {}

/** The caller aborted the call through its AbortSignal. */
export class CancelledError extends ScalesError {
  constructor(message = 'call cancelled', options?: ScalesErrorOptions) {
    super('SCALES_ERR_CANCELLED', message, options);
  }
}

export class ConnectTimeoutError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_CONNECT_TIMEOUT', message, { unwritten: true, ...options });
  }
}

/** Connecting failed (refused, unreachable, DNS). The request was never written. */
export class ConnectError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_CONNECT', message, { unwritten: true, ...options });
  }
}

/** The connection closed (by either side) while the call was pending. */
export class ConnectionClosedError extends ScalesError {
  constructor(message = 'connection closed', options?: ScalesErrorOptions) {
    super('SCALES_ERR_CONNECTION_CLOSED', message, options);
  }
}

/** A message over its size limit; `message` says what it was when it was no frame (an HTTP body). */
export class FrameTooLargeError extends ScalesError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number, options?: ScalesErrorOptions, message = `frame of ${size} bytes exceeds the limit of ${limit} bytes`) {
    super('SCALES_ERR_FRAME_TOO_LARGE', message, options);
    this.size = size;
    this.limit = limit;
  }
}

/** The bytes on the wire do not follow the protocol (truncated, malformed, out of limits). */
export class ProtocolError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_PROTOCOL', message, options);
  }
}

/** Too much work queued (in-flight calls, write buffer); the call was not sent. */
export class OverloadedError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_OVERLOADED', message, { unwritten: true, ...options });
  }
}

/**
 * Partly received messages across the process hold more than their budget (`FrameBudget`); the
 * connection holding the most was closed. Code SCALES_ERR_OVERLOADED.
 */
export class FrameBudgetError extends OverloadedError {}

/** The client, server or connection was closed by its owner. */
export class ClosedError extends ScalesError {
  constructor(message = 'closed', options?: ScalesErrorOptions) {
    super('SCALES_ERR_CLOSED', message, options);
  }
}

export class InvalidArgumentError extends ScalesError {
  /** `unwritten` by default: a call refused for a bad argument or option never left. */
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_INVALID_ARGUMENT', message, { unwritten: true, ...options });
  }
}

/** A server could not listen: another socket holds the address (EADDRINUSE). */
export class AddressInUseError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_ADDRESS_IN_USE', message, options);
  }
}

/**
 * A bad value as an error message shows it, with its type, so `'100'` is not mistaken for
 * `100`: `the string '100'`, `the number -1`, `an array`, `undefined`.
 */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  switch (typeof v) {
    case 'string':
      return `the string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
    case 'number':
    case 'boolean':
      return `the ${typeof v} ${String(v)}`;
    case 'bigint':
      return `the bigint ${v}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return `the symbol ${String(v.description)}`;
    default:
      return Array.isArray(v) ? 'an array' : `an object (${Object.prototype.toString.call(v).slice(8, -1)})`;
  }
}

/** The destination has no node that can take the call. */
export class NoNodesError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_NO_NODES', message, { unwritten: true, ...options });
  }
}

/** The node is marked dead by failure accrual (or its probe is in flight); the call was not sent. */
export class NodeUnavailableError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_NODE_UNAVAILABLE', message, { unwritten: true, ...options });
  }
}

export class IdlError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_IDL', message, options);
  }
}

/**
 * Base of the errors a service declares in its interface (Thrift IDL exceptions, ...) and raises
 * on purpose: an answer from the peer, not a failure of it. Protocols extend it; the generic
 * layers count it as a success (stats `USER_EXCEPTION`) and never retry it.
 */
export class DeclaredError extends Error {}

export function isScalesError(err: unknown): err is ScalesError {
  return err instanceof ScalesError;
}

/**
 * Builds an error without capturing a stack trace. For refusals under overload (a full pool
 * queue, a server at its concurrency limit, a Mux NACK), which come in bursts: a stack costs
 * ~13 µs here (2000 refusals: 26 ms of a busy loop, delaying the calls that were admitted), and
 * it would only show the library's own frames, not the caller's. Finagle's rejections carry no
 * stack trace for the same reason.
 */
export function stackless<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
