/**
 * What a Mux server keeps per connection (a server codec is shared by every connection, so it
 * finds this by the connection): which protocol the peer speaks (decided by its first bytes), the
 * handshake, the calls in flight by tag (a tag reused while in flight is a violation; Tdiscarded
 * finds its call here), fragments being reassembled, and the peer's `mux-framer`.
 */
import { CancelledError, ProtocolError } from '../../core/errors.js';
import type { Connection } from '../../transport/index.js';
import { writeSimple } from './client-codec.js';
import { type ContextNames, DEADLINE_NAME, deadlineAt, ForwardedContexts } from './contexts.js';
import { FragmentWriter, Reassembler, type ReassemblyBudget } from './fragments.js';
import { CONTROL_TAG, MAX_TAG, MUX_VERSION, MuxType, TINIT_CHECK } from './types.js';
import { encodeMessage, type MuxEntry } from './wire.js';
import { ContextValues } from '../../core/context-key.js';
import { readU16 } from './bytes.js';
import type { BufferReader } from '../../core/bytes.js';

/** A call being served that Tdiscarded can reach. */
export interface DiscardableCall {
  readonly tag: number;
  /** Set by Tdiscarded: its answer must never be sent. */
  discarded: boolean;
  /** Aborts the handler's signal (a no-op until the call entered the server stack). */
  abort(reason: CancelledError): void;
}

export type PeerKind = 'unknown' | 'mux' | 'thrift';

export interface MuxServerLimits {
  /** Largest reassembled message (default: the frame limit, 16 MiB). */
  readonly maxMessageBytes: number;
  /** Most fragmented messages in progress per connection (default 64). */
  readonly maxPartials: number;
  /** Most contexts on one Tdispatch (default 256). */
  readonly maxContexts: number;
  /** Most dtab entries on one Tdispatch (default 256). */
  readonly maxDtab: number;
  /** Bytes held in unfinished fragmented messages by all the server's connections together. */
  readonly reassembly: ReassemblyBudget;
}

export class MuxServerConn {
  kind: PeerKind = 'unknown';
  negotiated = false;
  /** For a plain Thrift peer: answers kept in request order (its payload's business, set by the codec). */
  inOrder: { answer(conn: Connection, req: object, write: (out: Connection) => void): void; number(req: object): void } | undefined = undefined;
  /** Tdrain was sent: new calls are refused with NACK until the connection closes. */
  draining = false;
  /** The client acknowledged our Tdrain (Rdrain): it sends no new call. */
  drainAcked = false;
  private onDrainAck: (() => void) | undefined = undefined;
  /** The peer's `mux-framer` (Infinity: none): answers are fragmented to it. */
  peerMaxFrame = Infinity;
  readonly reassembler: Reassembler;
  private writer: FragmentWriter | undefined = undefined;
  /**
   * Calls in flight by tag: an array, since clients reuse the smallest free tags (dense, small;
   * a peer that spreads tags up to 2^23 only makes V8 keep this one array sparse).
   */
  private readonly calls: (DiscardableCall | undefined)[] = [];
  private count = 0;

  constructor(
    readonly conn: Connection,
    readonly limits: MuxServerLimits,
  ) {
    this.reassembler = new Reassembler(limits.maxMessageBytes, limits.maxPartials, limits.reassembly, () => conn.closed);
  }

  /** Sends answers larger than the peer's `mux-framer`, interleaved with the others. */
  get fragments(): FragmentWriter {
    return (this.writer ??= new FragmentWriter(this.conn, this.peerMaxFrame));
  }

  get inFlight(): number {
    return this.count;
  }

  /** A new call on `tag`: a tag still in flight is a violation. */
  begin(call: DiscardableCall): void {
    const tag = call.tag;
    if (tag === 0 || tag > MAX_TAG) throw new ProtocolError(`Tdispatch on reserved tag ${tag}`);
    if (this.calls[tag] !== undefined) throw new ProtocolError(`tag ${tag} reused while its call is in flight`);
    this.calls[tag] = call;
    this.count++;
  }

  /** The call's answer may go out now (false: it was discarded, send nothing). */
  finish(call: DiscardableCall): boolean {
    if (call.discarded) return false;
    if (this.calls[call.tag] === call) {
      this.calls[call.tag] = undefined;
      this.count--;
    }
    return true;
  }

  /**
   * Tdiscarded for `which`: the partial message is dropped; a running call is marked (its answer
   * is never sent), its handler's signal aborts, and Rdiscarded goes back. Unknown or already
   * answered: ignored.
   */
  discard(which: number, reason: string): boolean {
    this.reassembler.drop(which);
    const call = this.calls[which];
    if (call === undefined) return false;
    this.calls[which] = undefined;
    this.count--;
    call.discarded = true;
    writeSimple(this.conn, MuxType.Rdiscarded, which);
    call.abort(new CancelledError(`the caller discarded the call: ${reason}`, { endpoint: this.conn.endpoint }));
    return true;
  }

  /** Sends Tdrain once; resolves when the client answers Rdrain (at once if it already did). */
  startDrain(): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      writeSimple(this.conn, MuxType.Tdrain, CONTROL_TAG);
    }
    if (this.drainAcked) return Promise.resolve();
    return new Promise((resolve) => (this.onDrainAck = resolve));
  }

  /** Rdrain arrived. */
  drainAcknowledged(): void {
    this.drainAcked = true;
    const done = this.onDrainAck;
    this.onDrainAck = undefined;
    done?.();
  }

  /** Answers the "tinit check" probe (echo it) or a Tinit (Rinit with our headers); anything else on the control tag is refused. */
  answerHandshake(message: Buffer, code: number, tag: number, headers: readonly MuxEntry[]): void {
    const conn = this.conn;
    if (code === MuxType.RerrLegacy || code === MuxType.Rerr) {
      if (tag === CONTROL_TAG && message.toString('utf8', 4) === TINIT_CHECK) {
        const mark = conn.beginMessage();
        conn.writer.writeBytes(message);
        conn.endMessage(mark);
        return;
      }
      throw new ProtocolError(`mux session error from the client: ${message.toString('utf8', 4, Math.min(message.length, 260))}`);
    }
    // Tinit
    const version = message.length >= 6 ? message.readUInt16BE(4) : -1;
    if (version !== MUX_VERSION) {
      const mark = conn.beginMessage();
      encodeMessage(conn.writer, { type: 'Rerr', tag, reason: `unsupported mux version ${version}`, legacy: false });
      conn.endMessage(mark);
      throw new ProtocolError(`client asked for mux version ${version}`);
    }
    let at = 6;
    while (at + 4 <= message.length) {
      const kl = message.readUInt32BE(at);
      const key = message.toString('latin1', at + 4, Math.min(message.length, at + 4 + kl));
      at += 4 + kl;
      if (at + 4 > message.length) break;
      const vl = message.readUInt32BE(at);
      if (key.toLowerCase() === 'mux-framer' && vl === 4 && at + 8 <= message.length) this.peerMaxFrame = Math.max(16, message.readUInt32BE(at + 4));
      at += 4 + vl;
    }
    this.negotiated = true;
    const mark = conn.beginMessage();
    encodeMessage(conn.writer, { type: 'Rinit', tag, version: MUX_VERSION, headers });
    conn.endMessage(mark);
  }
}

/** What a Tdispatch's contexts mean to the server: the deadline and the typed values. */
export interface ReceivedContexts {
  deadline: number | undefined;
  values: ContextValues | undefined;
}

/**
 * Reads `nctx (key value)*` at `r`: the Deadline, keys we know (decoded; a malformed value drops
 * that context, not the call), and the rest kept raw for forwarding.
 */
export function readContexts(
  r: BufferReader,
  names: ContextNames,
  maxContexts: number,
  /** Filled and returned (a server reuses one: no object per call). */
  out: ReceivedContexts = { deadline: undefined, values: undefined },
): ReceivedContexts {
  out.deadline = undefined;
  out.values = undefined;
  const n = readU16(r);
  if (n === 0) return out;
  if (n > maxContexts) throw new ProtocolError(`Tdispatch claims ${n} contexts (limit ${maxContexts})`);
  let forwarded: MuxEntry[] | undefined;
  const b = r.buf;
  for (let i = 0; i < n; i++) {
    const kl = readU16(r);
    r.need(kl);
    const keyStart = r.pos;
    r.pos += kl;
    const vl = readU16(r);
    r.need(vl);
    const valueAt = r.pos;
    r.pos += vl;
    const known = names.find(b, keyStart, kl);
    if (known === DEADLINE_NAME) {
      // Read in place: the Deadline comes on nearly every call, no view is made for it.
      if (vl === 16) out.deadline = deadlineAt(b, valueAt);
      continue;
    }
    if (known !== undefined) {
      const wire = known.wire!;
      try {
        // In place for codecs that keep nothing of the bytes; a copy for the others (a view would hold the whole read).
        const v = wire.decodeAt !== undefined ? wire.decodeAt(b, valueAt, vl) : wire.decode(Buffer.from(b.subarray(valueAt, valueAt + vl)));
        (out.values ??= new ContextValues()).set(known, v);
        continue;
      } catch {
        // malformed: forwarded as it came
      }
    }
    (forwarded ??= []).push([Buffer.from(b.subarray(keyStart, keyStart + kl)), Buffer.from(b.subarray(valueAt, valueAt + vl))]);
  }
  if (forwarded !== undefined) (out.values ??= new ContextValues()).set(ForwardedContexts, forwarded);
  return out;
}
