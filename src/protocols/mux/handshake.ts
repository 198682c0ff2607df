/**
 * The client's opening (Finagle's `Handshake.scala`): send the "tinit check" probe (an Rerr on
 * tag 1 in its legacy form 127); a negotiating server echoes it exactly, and then Tinit/Rinit
 * trade version 1 and headers (`mux-framer`: the largest frame the sender accepts). Any other
 * answer means a server that never negotiates: the session starts as it is, and that answer is
 * handed to the session like any later message (a Tping, a Tlease...).
 */
import { BufferWriter } from '../../core/bytes.js';
import { ConnectTimeoutError, ProtocolError, type ScalesError } from '../../core/errors.js';
import type { Connection } from '../../transport/index.js';
import { CONTROL_TAG, MUX_VERSION, MuxType, TINIT_CHECK } from './types.js';
import { decodeMessage, encodeMessage, type MuxEntry } from './wire.js';

export interface HandshakeResult {
  readonly negotiated: boolean;
  /** The server's Rinit headers by name (empty when not negotiated). */
  readonly headers: ReadonlyMap<string, Buffer>;
  /** Messages read after the probe's answer that belong to the session. */
  readonly early: readonly Buffer[];
}

/** The probe's exact bytes after the size prefix. */
export const TINIT_CHECK_MESSAGE: Buffer = (() => {
  const w = new BufferWriter(32);
  encodeMessage(w, { type: 'Rerr', tag: CONTROL_TAG, reason: TINIT_CHECK, legacy: true });
  return w.takeCopy();
})();

/** The `mux-framer` header value: a u32 frame size. */
export function framerHeader(size: number): MuxEntry {
  const v = Buffer.allocUnsafe(4);
  v.writeUInt32BE(size, 0);
  return [Buffer.from('mux-framer'), v];
}

/** Runs the handshake on a fresh connection; rejects (and closes it) on timeout or a refused version. */
export function clientHandshake(conn: Connection, headers: readonly MuxEntry[], timeoutMs: number): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    let phase: 'probe' | 'init' = 'probe';
    const early: Buffer[] = [];
    const done = (err: ScalesError | undefined, result?: HandshakeResult): void => {
      clearTimeout(timer);
      // Messages in the same socket read as the answer: kept for the session, which replays them.
      conn.onMessage = (m) => early.push(m);
      conn.onClose = () => {};
      if (err !== undefined) {
        conn.close(err);
        reject(err);
      } else resolve(result!);
    };
    const timer = setTimeout(
      () =>
        done(
          new ConnectTimeoutError(
            `mux handshake with ${conn.endpoint} got no answer within ${timeoutMs} ms (a server that ignores the probe, as the Python Scales ThriftMux server does, needs handshake: false)`,
            { endpoint: conn.endpoint },
          ),
        ),
      timeoutMs,
    );
    conn.onClose = (err) => done(err ?? new ProtocolError(`${conn.endpoint} closed the connection during the mux handshake`, { endpoint: conn.endpoint }));
    conn.onMessage = (m) => {
      if (phase === 'probe') {
        if (m.equals(TINIT_CHECK_MESSAGE)) {
          phase = 'init';
          const mark = conn.beginMessage();
          encodeMessage(conn.writer, { type: 'Tinit', tag: CONTROL_TAG, version: MUX_VERSION, headers });
          conn.endMessage(mark);
          return;
        }
        // Not a negotiating server. An Rerr on the control tag is its answer to the probe; anything else is the session's.
        if (!(m.length >= 4 && (m.readInt8(0) === MuxType.Rerr || m.readInt8(0) === MuxType.RerrLegacy) && m.readUIntBE(1, 3) === CONTROL_TAG)) early.push(m);
        return done(undefined, { negotiated: false, headers: new Map(), early });
      }
      let msg: ReturnType<typeof decodeMessage>;
      try {
        msg = decodeMessage(m);
      } catch (err) {
        return done(err as ScalesError);
      }
      if (msg.type === 'Rinit') {
        if (msg.version !== MUX_VERSION) return done(new ProtocolError(`${conn.endpoint} speaks mux version ${msg.version}, not ${MUX_VERSION}`, { endpoint: conn.endpoint }));
        const got = new Map<string, Buffer>();
        for (const [k, v] of msg.headers) got.set(k.toString('latin1').toLowerCase(), v);
        return done(undefined, { negotiated: true, headers: got, early });
      }
      if (msg.type === 'Rerr') return done(new ProtocolError(`${conn.endpoint} refused the mux handshake: ${msg.reason}`, { endpoint: conn.endpoint }));
      early.push(m); // a Tping or Tlease before Rinit: the session answers it
    };
    const mark = conn.beginMessage();
    conn.writer.writeBytes(TINIT_CHECK_MESSAGE);
    conn.endMessage(mark);
  });
}
