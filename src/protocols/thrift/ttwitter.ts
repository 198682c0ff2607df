/**
 * Finagle's "TTwitter" upgrade of plain framed Thrift: a client calls `__can__finagle__trace__v3__`
 * once; a server that answers REPLY has agreed that from then on every request on that connection
 * starts with a `RequestHeader` struct (trace ids, client id, Finagle's broadcast contexts) and
 * every reply with a `ResponseHeader`, both in the connection's own protocol, inside the frame.
 * A server that answers UNKNOWN_METHOD leaves the connection plain.
 *
 * The structs, from Finagle's finagle-thrift/src/main/thrift/tracing.thrift (twitter/finagle, as
 * of commit 19c676363939bfbe0dd5f084ca8a6c25f2c11c75):
 *
 *   struct ClientId        { 1: string name }
 *   struct RequestContext  { 1: binary key, 2: binary value }
 *   struct Delegation      { 1: string src, 2: string dst }
 *   struct RequestHeader   { 1: i64 trace_id, 2: i64 span_id, 3: optional i64 parent_span_id,
 *                            5: optional bool sampled, 6: optional ClientId client_id,
 *                            7: optional i64 flags, 8: list<RequestContext> contexts,
 *                            9: optional string dest, 10: optional list<Delegation> delegations,
 *                            11: optional i64 trace_id_high }
 *   struct ResponseHeader  { 1: list<Span> spans, 2: list<RequestContext> contexts }
 *   struct ConnectionOptions {}   (the upgrade call's argument struct)
 *   struct UpgradeReply {}        (the upgrade's REPLY)
 *
 * What a server makes of a header (TTwitterServerFilter.scala, RichRequestHeader.scala): the trace
 * id from the id fields (parent defaults to the span; `sampled` sets flags 2|4 as Mux's
 * TraceContext carries it), overridden by a TraceContext among the contexts; the contexts as Mux
 * contexts (Deadline, Retries, ClientIdContext, ...); `client_id` wins over ClientIdContext; dest
 * and delegations are not used (Scales has no dtabs). Finagle answers with an empty
 * ResponseHeader (a single STOP byte): so do we.
 */
import { ContextValues } from '../../core/context-key.js';
import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import { ProtocolError } from '../../core/errors.js';
import { type ContextNames, DEADLINE_NAME, decodeDeadline, ForwardedContexts, MuxClientId, MuxTrace, type TraceId } from '../mux/contexts.js';
import type { MuxEntry } from '../mux/wire.js';
import { T, type StructDesc } from './descriptors.js';
import type { ThriftProtocol } from './protocol.js';

/** The upgrade call's method name (v3: B3 trace ids, Finagle's ThriftTracing.CanTraceMethodName). */
export const TTWITTER_UPGRADE_METHOD = '__can__finagle__trace__v3__';

/** Finagle's trace flags: the sampling decision as TraceContext carries it. */
const SAMPLING_KNOWN = 2n;
const SAMPLED = 4n;

const ClientIdDesc: StructDesc = {
  name: 'ClientId',
  kind: 'struct',
  fields: [{ id: 1, name: 'name', type: T.string, requiredness: 'default' }],
};

const RequestContextDesc: StructDesc = {
  name: 'RequestContext',
  kind: 'struct',
  fields: [
    { id: 1, name: 'key', type: T.binary, requiredness: 'default' },
    { id: 2, name: 'value', type: T.binary, requiredness: 'default' },
  ],
};

const DelegationDesc: StructDesc = {
  name: 'Delegation',
  kind: 'struct',
  fields: [
    { id: 1, name: 'src', type: T.string, requiredness: 'default' },
    { id: 2, name: 'dst', type: T.string, requiredness: 'default' },
  ],
};

export const RequestHeaderDesc: StructDesc = {
  name: 'RequestHeader',
  kind: 'struct',
  fields: [
    { id: 1, name: 'trace_id', type: T.i64, requiredness: 'default' },
    { id: 2, name: 'span_id', type: T.i64, requiredness: 'default' },
    { id: 3, name: 'parent_span_id', type: T.i64, requiredness: 'optional' },
    { id: 5, name: 'sampled', type: T.bool, requiredness: 'optional' },
    { id: 6, name: 'client_id', type: T.struct(() => ClientIdDesc), requiredness: 'optional' },
    { id: 7, name: 'flags', type: T.i64, requiredness: 'optional' },
    { id: 8, name: 'contexts', type: T.list(T.struct(() => RequestContextDesc)), requiredness: 'default' },
    { id: 9, name: 'dest', type: T.string, requiredness: 'optional' },
    { id: 10, name: 'delegations', type: T.list(T.struct(() => DelegationDesc)), requiredness: 'optional' },
    { id: 11, name: 'trace_id_high', type: T.i64, requiredness: 'optional' },
  ],
};

/** Field 1 (`list<Span>`) is left out: a reader skips it, and we never send spans. */
export const ResponseHeaderDesc: StructDesc = {
  name: 'ResponseHeader',
  kind: 'struct',
  fields: [{ id: 2, name: 'contexts', type: T.list(T.struct(() => RequestContextDesc)), requiredness: 'default' }],
};

/** ConnectionOptions and UpgradeReply: both empty, both read by skipping unknown fields. */
export const EmptyStructDesc: StructDesc = { name: 'UpgradeReply', kind: 'struct', fields: [] };

export interface RequestContextValue {
  key?: Buffer;
  value?: Buffer;
}

/** A RequestHeader as decoded (i64s are signed, as on the wire). */
export interface RequestHeader {
  trace_id?: bigint;
  span_id?: bigint;
  parent_span_id?: bigint;
  sampled?: boolean;
  client_id?: { name?: string };
  flags?: bigint;
  contexts?: RequestContextValue[];
  dest?: string;
  delegations?: { src?: string; dst?: string }[];
  trace_id_high?: bigint;
}

export interface TTwitterLimits {
  /** Most contexts in one RequestHeader (default 256, as a Mux server's maxContexts). */
  readonly maxContexts: number;
  /** Most delegations in one RequestHeader (default 256, as a Mux server's maxDtab). */
  readonly maxDelegations: number;
}

export const DEFAULT_TTWITTER_LIMITS: TTwitterLimits = { maxContexts: 256, maxDelegations: 256 };

/** A RequestHeader that does not decode, or claims more than the limits: the connection closes. */
export class TTwitterHeaderError extends ProtocolError {}

/** What a request header gives the request: as a Mux Tdispatch's contexts give it. */
export interface ReceivedHeader {
  readonly deadline: number | undefined;
  readonly values: ContextValues | undefined;
}

/**
 * Reads the RequestHeader at `r.pos` (the protocol's decode budget applies, as to any struct),
 * leaving `r` at the Thrift message behind it. `names`: the context names decoded
 * (mux/contexts.ts ContextNames).
 */
export function readRequestHeader(protocol: ThriftProtocol, r: BufferReader, names: ContextNames, limits: TTwitterLimits): ReceivedHeader {
  const h = protocol.readStruct(r, RequestHeaderDesc) as RequestHeader;
  const contexts = h.contexts;
  if (contexts !== undefined && contexts.length > limits.maxContexts) {
    throw new TTwitterHeaderError(`TTwitter RequestHeader carries ${contexts.length} contexts (limit ${limits.maxContexts})`);
  }
  if (h.delegations !== undefined && h.delegations.length > limits.maxDelegations) {
    throw new TTwitterHeaderError(`TTwitter RequestHeader carries ${h.delegations.length} delegations (limit ${limits.maxDelegations})`);
  }
  let deadline: number | undefined;
  let values: ContextValues | undefined;
  let forwarded: MuxEntry[] | undefined;
  if (contexts !== undefined) {
    for (const c of contexts) {
      const { key, value } = c;
      if (key === undefined || value === undefined) throw new TTwitterHeaderError('TTwitter RequestContext without its key or value');
      const k = names.find(key, 0, key.length);
      if (k === DEADLINE_NAME) {
        // As on Mux: a Deadline of the wrong size is dropped, not forwarded.
        if (value.length === 16) deadline = decodeDeadline(value);
        continue;
      }
      if (k !== undefined) {
        try {
          (values ??= new ContextValues()).set(k, k.wire!.decode(value));
          continue;
        } catch {
          // malformed: forwarded as it came
        }
      }
      (forwarded ??= []).push([key, value]);
    }
  }
  if (forwarded !== undefined) (values ??= new ContextValues()).set(ForwardedContexts, forwarded);
  // A TraceContext among the contexts wins over the header's ids (Finagle's server filter says
  // they never differ); else the header's ids are the trace.
  if ((h.trace_id !== undefined || h.span_id !== undefined) && values?.get(MuxTrace) === undefined) {
    (values ??= new ContextValues()).set(MuxTrace, traceOf(h));
  }
  const clientId = h.client_id?.name;
  if (clientId !== undefined) (values ??= new ContextValues()).set(MuxClientId, clientId);
  return { deadline, values };
}

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/** The header's ids as the TraceId Mux's TraceContext decodes to (unsigned, sampling in the flags). */
function traceOf(h: RequestHeader): TraceId {
  const spanId = u64(h.span_id ?? 0n);
  let flags = u64(h.flags ?? 0n);
  if (h.sampled !== undefined) flags |= h.sampled ? SAMPLING_KNOWN | SAMPLED : SAMPLING_KNOWN;
  const t = { traceId: u64(h.trace_id ?? 0n), spanId, parentId: h.parent_span_id === undefined ? spanId : u64(h.parent_span_id), flags };
  return h.trace_id_high === undefined ? t : { ...t, traceIdHigh: u64(h.trace_id_high) };
}

/** The ResponseHeader in front of every reply on an upgraded connection: empty, as Finagle's. */
export function writeResponseHeader(protocol: ThriftProtocol, w: BufferWriter): void {
  protocol.writeStruct(w, ResponseHeaderDesc, EMPTY_HEADER);
}

const EMPTY_HEADER = Object.freeze({});
