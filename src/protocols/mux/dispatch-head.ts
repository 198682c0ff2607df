/**
 * The head of a Tdispatch body a client writes for one call: its contexts, then an empty
 * destination and dtab. Contexts: the call's deadline (Finagle's Deadline), every value in the
 * call's context whose key has a wire codec (trace — as a child span —, retries, client id, user keys), the client's
 * own id (else the one the request being served carried), and the contexts the request being served received and nobody
 * decoded (forwarded unchanged).
 */
import type { BufferWriter } from '../../core/bytes.js';
import { wallOffset } from '../../core/clock.js';
import type { WireCodec } from '../../core/context-key.js';
import type { CallContext } from '../../core/service.js';
import { CLIENT_ID_CONTEXT, DEADLINE_CONTEXT, ForwardedContexts, MuxClientId, MuxTrace, type TraceId, writeChildSpanValue, writeDeadline } from './contexts.js';
import { writeBytes16 } from './wire.js';

/** The Deadline context's key with its u16 length, and the u16 length of its 16-byte value. */
const DEADLINE_BYTES = Buffer.concat([Buffer.from([0, DEADLINE_CONTEXT.length]), Buffer.from(DEADLINE_CONTEXT), Buffer.from([0, 16])]);
const CLIENT_ID_KEY = Buffer.from(CLIENT_ID_CONTEXT);

/** Each wire codec's name as UTF-8, made once (a nested call carries its contexts on every call). */
const NAMES = new WeakMap<WireCodec<unknown>, Buffer>();

function nameBytes(wire: WireCodec<unknown>): Buffer {
  let b = NAMES.get(wire);
  if (b === undefined) NAMES.set(wire, (b = Buffer.from(wire.name)));
  return b;
}

/** Writes `nctx (key value)* dest nd (src dst)*` for the call in `ctx`. */
export function writeDispatchHead(w: BufferWriter, ctx: CallContext, clientId: Buffer | undefined): void {
  const countAt = w.reserve(2);
  let n = 0;
  const exp = ctx.expiresAt;
  if (exp !== undefined) {
    // The wall clock's offset, not timeOrigin: the peer compares the deadline with its own wall
    // clock, and the monotonic epoch drifts from it as NTP corrects the host's clock. Stamped
    // with the call's start: it is no later than now (what a peer checks clock skew with).
    const offset = wallOffset();
    w.ensure(DEADLINE_BYTES.length + 16);
    w.pos += DEADLINE_BYTES.copy(w.buf, w.pos);
    writeDeadline(w.buf, w.pos, ctx.start + offset, exp + offset);
    w.pos += 16;
    n++;
  }
  const values = ctx.values;
  if (values !== undefined) {
    for (let id = 0, slots = values.slotCount; id < slots; id++) {
      const key = values.keyAt(id);
      if (key === undefined) continue;
      const value = values.valueAt(id);
      if (key === ForwardedContexts) {
        for (const [k, v] of value as NonNullable<typeof ForwardedContexts.defaultValue>) {
          writeBytes16(w, k);
          writeBytes16(w, v);
          n++;
        }
        continue;
      }
      const wire = key.wire;
      if (wire === undefined || value === undefined) continue;
      if (key === MuxClientId && clientId !== undefined) continue; // our own id wins over the one we were called with
      writeBytes16(w, nameBytes(wire));
      // The trace goes on as a child span, written in place (no TraceId, BigInts or Buffer for it).
      if (key === MuxTrace) writeChildSpanValue(w, value as TraceId);
      else writeBytes16(w, wire.encode(value));
      n++;
    }
  }
  if (clientId !== undefined) {
    writeBytes16(w, CLIENT_ID_KEY);
    writeBytes16(w, clientId);
    n++;
  }
  w.ensure(4);
  const b = w.buf;
  b[countAt] = n >>> 8;
  b[countAt + 1] = n;
  const p = w.pos;
  b[p] = b[p + 1] = 0; // dest: empty
  b[p + 2] = b[p + 3] = 0; // no dtab
  w.pos = p + 4;
}
