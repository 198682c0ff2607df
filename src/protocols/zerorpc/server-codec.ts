/**
 * The ZeroRPC server codec: reads one ROUTER message (identity envelope + event) into a request,
 * routes channel events (heartbeats, credit) to the open channel, and writes the answers as
 * ZeroRPC events on the request's channel.
 */
import type { ContextKey } from '../../core/context-key.js';
import { ProtocolError } from '../../core/errors.js';
import { valuesFromHeader } from './context.js';
import { MAX_ECHOED_NAME, UnknownMethod, type ServerCodec, type ServerErrorKind, type ServerRequest } from '../../server/codec.js';
import { describeError } from '../../server/safe.js';
import { type ChannelRef, ERR, HEARTBEAT, MORE } from './events.js';
import type { ServerChannel, ZeroServerCore } from './server-core.js';

export interface ZeroRequest extends ServerRequest {
  readonly channel: ServerChannel;
}

/** One message from the ROUTER: `[identity, ...]` frames but the last, and the event as bytes [start, end) of `buf`. */
export interface ZeroInbound {
  head: Buffer[];
  buf: Buffer;
  start: number;
  end: number;
}

/** Where an unknown method's answer goes. */
export interface UnknownTarget {
  /** The request's envelope (identity, delimiter): the answer goes out after it. */
  readonly envelope: Buffer[];
  readonly id: ChannelRef;
}

export class ZeroServerCodec implements ServerCodec<ZeroInbound, ZeroServerCore, ZeroRequest> {
  constructor(
    private readonly methods: ReadonlySet<string>,
    private readonly tracebacks: boolean,
    /** Context keys read from request headers, by wire name. */
    private readonly contextKeys: ReadonlyMap<string, ContextKey<unknown>> = new Map(),
  ) {}

  decode(m: ZeroInbound, core: ZeroServerCore): ZeroRequest | UnknownMethod<UnknownTarget> | undefined {
    if (m.head.length < 1) throw new ProtocolError('ZeroRPC message without an identity envelope');
    // The frames before the event stay the envelope: answers go out after them.
    const envelope = m.head;
    // One reused object: its fields are taken here, before anything else is read.
    const ev = core.read(m.buf, m.start, m.end);
    const h = ev.header;
    const name = ev.name;
    const args = ev.args;
    const to = h?.response_to;
    if (to !== undefined && to !== null) {
      const ch = core.channel(envelope[0]!, to);
      if (ch === undefined) {
        // A heartbeat or grant crossing the channel's last event is normal (both ends race): ignored.
        if (name !== HEARTBEAT && name !== MORE) core.dropped(new ProtocolError(`ZeroRPC event '${name.slice(0, 64)}' for no open channel`));
        return undefined;
      }
      ch.heard();
      if (name === MORE) ch.grant(Array.isArray(args) ? args[0] : undefined);
      // Heartbeats and anything else on an open channel only prove the peer alive.
      return undefined;
    }
    if (name === HEARTBEAT || name === MORE) return undefined;
    // The common header: the id read in place (a number for a hex-shaped one), no other keys.
    const id = h === undefined ? core.idAt(envelope[0]!, m.buf, ev.idAt) : h.message_id;
    if (!this.methods.has(name)) return new UnknownMethod<UnknownTarget>(name.slice(0, MAX_ECHOED_NAME), { envelope, id }, false);
    if (!Array.isArray(args)) {
      core.sendOnce(envelope, id, ERR, ['TypeError', `${name}() arguments must be a list`, '']);
      return undefined;
    }
    const channel = core.open(envelope, id);
    if (channel === undefined) return undefined; // a duplicate id: the first request holds the channel
    if (channel === 'full') {
      core.sendOnce(envelope, id, ERR, ['OverloadedError', 'too many open channels', '']);
      return undefined;
    }
    // The channel is the request. Its args were read with a last element left for the request
    // context (the array never grows).
    channel.values = h === undefined ? undefined : valuesFromHeader(h, this.contextKeys);
    channel.method = name;
    channel.args = args;
    return channel;
  }

  writeReply(core: ZeroServerCore, req: ZeroRequest, value: unknown): void {
    const ch = req.channel;
    if (ch.closed) return;
    if (core.isStream(req.method, value)) return core.startStream(ch, value);
    core.result(ch, value);
  }

  /** Every exception crosses the wire by name: the server stack passes them here as they are. */
  isDeclared(_req: ZeroRequest, err: unknown): boolean {
    return err instanceof Error;
  }

  writeDeclared(core: ZeroServerCore, req: ZeroRequest, err: unknown): void {
    core.final(req.channel, ERR, this.errArgs(err));
  }

  writeError(core: ZeroServerCore, req: ZeroRequest, kind: ServerErrorKind, message: string): void {
    core.final(req.channel, ERR, [kind === 'timeout' ? 'TimeoutError' : 'InternalError', message, '']);
  }

  writeOverloaded(core: ZeroServerCore, req: ZeroRequest, message: string): void {
    core.final(req.channel, ERR, ['OverloadedError', message, '']);
  }

  writeUnknown(core: ZeroServerCore, call: UnknownMethod): void {
    const t = call.tag as UnknownTarget;
    core.sendOnce(t.envelope, t.id, ERR, ['NameError', call.name, `NameError: ${call.name}\n`]);
  }

  /** `[name, message, traceback]`: the stack only when the server opted in. */
  errArgs(err: unknown): [string, string, string] {
    let name = 'Error';
    try {
      const n = (err as { name?: unknown }).name;
      if (typeof n === 'string' && n !== '') name = n.slice(0, MAX_ECHOED_NAME);
    } catch {
      // an odd value: keep 'Error'
    }
    const message = describeError(err);
    let tb = `${name}: ${message}\n`;
    if (this.tracebacks) {
      try {
        const stack = (err as { stack?: unknown }).stack;
        if (typeof stack === 'string') tb = `${stack}\n`;
      } catch {
        // keep the short form
      }
    }
    return [name, message, tb];
  }
}
