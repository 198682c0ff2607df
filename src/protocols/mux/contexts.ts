/**
 * Mux's broadcast contexts (Finagle's `Contexts.broadcast`): what travels with every Tdispatch.
 * Typed keys with wire codecs for the ones Finagle defines; the deadline is not a key here but
 * the call's own deadline (CallContext on clients, ServerRequest.deadline on servers).
 *
 *   com.twitter.finagle.Deadline                 16 bytes: timestamp_ns:i64 deadline_ns:i64
 *   com.twitter.finagle.tracing.TraceContext     32 (or 40) bytes: span parent trace flags [traceIdHigh]
 *   com.twitter.finagle.Retries                  i32: this request's retries so far
 *   com.twitter.finagle.thrift.ClientIdContext   UTF-8 client name
 *
 * Names compare with ASCII letters in either case (ContextNames); a context we have no key for is
 * forwarded unchanged on the calls a handler makes (ForwardedContexts).
 */
import { ByteNames } from '../../core/byte-names.js';
import type { BufferWriter } from '../../core/bytes.js';
import { turnWallNow } from '../../core/clock.js';
import { createContextKey, type ContextKey, type WireCodec } from '../../core/context-key.js';
import { ProtocolError } from '../../core/errors.js';
import { HI, LO, SCR_U32, SCR_U64 } from '../../core/int64-scratch.js';
import type { MuxEntry } from './wire.js';

export const DEADLINE_CONTEXT = 'com.twitter.finagle.Deadline';
export const TRACE_CONTEXT = 'com.twitter.finagle.tracing.TraceContext';
export const RETRIES_CONTEXT = 'com.twitter.finagle.Retries';
export const CLIENT_ID_CONTEXT = 'com.twitter.finagle.thrift.ClientIdContext';
/** Rdispatch context with u64 flags: 1 retryable, 2 rejected, 4 non-retryable. */
export const MUX_FAILURE_CONTEXT = 'MuxFailure';

/** A Finagle trace id. Flags: 1 debug, 2 sampling known, 4 sampled. */
export interface TraceId {
  readonly traceId: bigint;
  readonly spanId: bigint;
  readonly parentId: bigint;
  readonly flags: bigint;
  /** The high 64 bits of a 128-bit trace id, when the peer sent one. */
  readonly traceIdHigh?: bigint;
}

const traceWire: WireCodec<TraceId | undefined> = {
  name: TRACE_CONTEXT,
  encode(t) {
    const b = Buffer.allocUnsafe(t?.traceIdHigh === undefined ? 32 : 40);
    if (t === undefined) return b.fill(0);
    b.writeBigUInt64BE(t.spanId, 0);
    b.writeBigUInt64BE(t.parentId, 8);
    b.writeBigUInt64BE(t.traceId, 16);
    b.writeBigUInt64BE(t.flags, 24);
    if (t.traceIdHigh !== undefined) b.writeBigUInt64BE(t.traceIdHigh, 32);
    return b;
  },
  decode(b) {
    return traceWire.decodeAt!(b, 0, b.length);
  },
  decodeAt(b, at, n) {
    if (n !== 32 && n !== 40) throw new ProtocolError(`TraceContext of ${n} bytes (want 32 or 40)`);
    const t = { spanId: u64At(b, at), parentId: u64At(b, at + 8), traceId: u64At(b, at + 16), flags: u64At(b, at + 24) };
    return n === 40 ? { ...t, traceIdHigh: u64At(b, at + 32) } : t;
  },
};

/** The unsigned big-endian u64 at `at` (the caller checked the bounds). */
function u64At(b: Buffer, at: number): bigint {
  SCR_U32[HI] = i32At(b, at);
  SCR_U32[LO] = i32At(b, at + 4);
  return SCR_U64[0]!;
}

const retriesWire: WireCodec<number> = {
  name: RETRIES_CONTEXT,
  encode(n) {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(n | 0, 0);
    return b;
  },
  decode(b) {
    return retriesWire.decodeAt!(b, 0, b.length);
  },
  decodeAt(b, at, n) {
    if (n !== 4) throw new ProtocolError(`Retries context of ${n} bytes (want 4)`);
    return i32At(b, at);
  },
};

const clientIdWire: WireCodec<string | undefined> = {
  name: CLIENT_ID_CONTEXT,
  encode: (s) => Buffer.from(s ?? '', 'utf8'),
  decode: (b) => b.toString('utf8'),
  decodeAt: (b, at, n) => b.toString('utf8', at, at + n),
};

/**
 * The span a client call makes under `t` (Finagle's client trace filter): the same trace, a new
 * span id, `t`'s span as its parent.
 */
export function childSpan(t: TraceId): TraceId {
  const spanId = (BigInt((Math.random() * 0x100000000) >>> 0) << 32n) | BigInt((Math.random() * 0x100000000) >>> 0);
  const child = { traceId: t.traceId, spanId, parentId: t.spanId, flags: t.flags };
  return t.traceIdHigh === undefined ? child : { ...child, traceIdHigh: t.traceIdHigh };
}

/**
 * The TraceContext value (u16 length first) of `childSpan(t)`, written straight into `w`: the
 * bytes `traceWire.encode(childSpan(t))` makes, without the TraceId, the BigInt arithmetic or the
 * Buffer (~0.5 µs a call that carries a trace). Ids wrap to 64 bits as Finagle's signed longs do.
 */
export function writeChildSpanValue(w: BufferWriter, t: TraceId): void {
  const n = t.traceIdHigh === undefined ? 32 : 40;
  w.ensure(2 + n);
  const b = w.buf;
  let p = w.pos;
  b[p] = 0;
  b[p + 1] = n;
  p = putU32(b, p + 2, (Math.random() * 0x100000000) >>> 0); // the new span id: 64 random bits
  p = putU32(b, p, (Math.random() * 0x100000000) >>> 0);
  p = putU64(b, p, t.spanId); // the parent: the span being served
  p = putU64(b, p, t.traceId);
  p = putU64(b, p, t.flags);
  if (t.traceIdHigh !== undefined) p = putU64(b, p, t.traceIdHigh);
  w.pos = p;
}

function putU32(b: Buffer, p: number, v: number): number {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
  return p + 4;
}

function putU64(b: Buffer, p: number, v: bigint): number {
  SCR_U64[0] = v;
  return putU32(b, putU32(b, p, SCR_U32[HI]!), SCR_U32[LO]!);
}

/**
 * The trace of the request being served (set it with withContextValue to start one). Each call a
 * client sends carries a child span of it (childSpan).
 */
export const MuxTrace: ContextKey<TraceId | undefined> = createContextKey('mux.trace', undefined, traceWire);
/** How many times the request being served was retried by its caller. */
export const MuxRetries: ContextKey<number> = createContextKey('mux.retries', 0, retriesWire);
/** The caller's client id (`withClientId` on the client). */
export const MuxClientId: ContextKey<string | undefined> = createContextKey('mux.client-id', undefined, clientIdWire);
/** Contexts received that no key decodes: sent on unchanged by the calls a handler makes. */
export const ForwardedContexts: ContextKey<readonly MuxEntry[] | undefined> = createContextKey('mux.forwarded', undefined);

/** The keys every Mux server decodes; servers may add their own (`contextKeys`). */
export const MUX_KEYS: readonly ContextKey<unknown>[] = [MuxTrace, MuxRetries, MuxClientId] as ContextKey<unknown>[];

/**
 * The last `Date.now()` ms whose nanoseconds fit the Deadline's i64 (April 2262). A later one
 * wrapped to a negative number, a deadline long past: `timeout: Number.MAX_SAFE_INTEGER` (a
 * common "no timeout") had every call refused as expired. Later deadlines are sent as none.
 */
export const MAX_DEADLINE_MS = 9_223_372_036_853;

/** Deadline context bytes for "sent now, due at `deadlineMs`" (both `Date.now()` ms; past MAX_DEADLINE_MS: none). */
export function encodeDeadline(nowMs: number, deadlineMs: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  writeDeadline(b, 0, nowMs, deadlineMs);
  return b;
}

/** The 16 bytes of a Deadline value at `at`: stamped `nowMs`, due `deadlineMs` (past MAX_DEADLINE_MS: Finagle's Time.Top, none). */
export function writeDeadline(b: Buffer, at: number, nowMs: number, deadlineMs: number): void {
  writeNs(b, at, nowMs);
  if (deadlineMs < MAX_DEADLINE_MS) writeNs(b, at + 8, deadlineMs);
  else {
    b.fill(0xff, at + 8, at + 16);
    b[at + 8] = 0x7f; // Long.MaxValue ns
  }
}

/** The deadline in `Date.now()` ms, or undefined for Finagle's "none" (Long.MaxValue). */
export function decodeDeadline(b: Buffer): number | undefined {
  if (b.length !== 16) throw new ProtocolError(`Deadline context of ${b.length} bytes (want 16)`);
  return deadlineAt(b, 0);
}

/**
 * Deadlines before this (2000-01-01, `Date.now()` ms) are no wall-clock time: the original Python
 * Scales ThriftMux client (scales/message.py, `Deadline`) sends its *timeout* in the deadline's
 * place — `(now_ns, timeout_ns)`. Finagle reads such a deadline as long past but does not act on
 * it (its server DeadlineFilter only counts by default); read as a time, it would have every such
 * call refused at once. It is read as that timeout, from arrival.
 */
export const RELATIVE_DEADLINE_BELOW_MS = 946_684_800_000;

/**
 * `decodeDeadline` of the 16 bytes at `at` in `b` (the caller checked the length).
 *
 * A deadline stamped in our future comes from a caller whose clock runs ahead of ours by at least
 * that much (the stamp is when the caller made or sent the deadline): the deadline is moved back
 * by the same amount. Without it a caller 50 ms ahead would have every call with a timeout under
 * 50 ms refused at once as expired. A caller running behind cannot be told from network delay
 * and is read as it comes (its calls look shorter, never longer). A pair stamped after its own
 * deadline is no evidence of anything and is read as it comes.
 */
export function deadlineAt(b: Buffer, at: number): number | undefined {
  const hi = i32At(b, at + 8);
  const lo = i32At(b, at + 12) >>> 0;
  if (hi === 0x7fffffff && lo === 0xffffffff) return undefined;
  // As a double the ns lose their last ~8 bits: a quarter of a microsecond, nothing for a deadline.
  const ms = (hi * 2 ** 32 + lo) / 1e6;
  if (ms < 0) return ms;
  const now = turnWallNow();
  if (ms < RELATIVE_DEADLINE_BELOW_MS) return now + ms;
  const stamped = (i32At(b, at) * 2 ** 32 + (i32At(b, at + 4) >>> 0)) / 1e6;
  return stamped > now && stamped <= ms ? ms - (stamped - now) : ms;
}

/** The signed big-endian i32 at `at` (the caller checked the bounds). */
function i32At(b: Buffer, at: number): number {
  return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
}

const TWO_20 = 1 << 20;
const TWO_32 = 2 ** 32;

/**
 * Writes `ms` (>= 0, `Date.now()` time, fractions kept to the ns) as an i64 of nanoseconds at
 * `at`, without BigInt (a BigInt conversion pair per stamp cost ~150 ns here).
 * ms = a·2^20 + b, so ns = a·10^6·2^20 + (b·10^6 + f): every product stays exact below 2^53.
 */
export function writeNs(buf: Buffer, at: number, ms: number): void {
  const whole = Math.floor(ms);
  const f = Math.round((ms - whole) * 1e6);
  const a = Math.floor(whole / TWO_20);
  const x = a * 1e6; // times 2^20 below
  const y = (whole - a * TWO_20) * 1e6 + f;
  const xLow = x % 4096; // x·2^20 = floor(x / 2^12)·2^32 + (x mod 2^12)·2^20
  const low = xLow * TWO_20 + y;
  const hi = (x - xLow) / 4096 + Math.floor(low / TWO_32);
  const lo = low % TWO_32;
  buf[at] = hi >>> 24;
  buf[at + 1] = (hi >>> 16) & 0xff;
  buf[at + 2] = (hi >>> 8) & 0xff;
  buf[at + 3] = hi & 0xff;
  buf[at + 4] = lo >>> 24;
  buf[at + 5] = (lo >>> 16) & 0xff;
  buf[at + 6] = (lo >>> 8) & 0xff;
  buf[at + 7] = lo & 0xff;
}

/** What `ContextNames.find` returns for `com.twitter.finagle.Deadline` (not a key: the call's own deadline). */
export const DEADLINE_NAME = Symbol('deadline');

/** The context names a server decodes, and what each is: Deadline, a key (ASCII letters in either case). */
export type ContextNames = ByteNames<ContextKey<unknown> | typeof DEADLINE_NAME>;

/**
 * Mux's own keys (MUX_KEYS) and `extra` (a server's `contextKeys`; a later key takes an earlier
 * one's name), matched on the wire's bytes: reading four contexts a call made four strings and
 * lower-cased them, ~40 % of reading Finagle's usual contexts.
 */
export function contextNames(extra: readonly ContextKey<unknown>[] = []): ContextNames {
  const names: ContextNames = new ByteNames(true);
  names.set(DEADLINE_CONTEXT, DEADLINE_NAME);
  for (const k of [...MUX_KEYS, ...extra]) if (k.wire !== undefined) names.set(k.wire.name, k);
  return names;
}
