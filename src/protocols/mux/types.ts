/**
 * Mux message type codes and tag rules (Finagle's `mux/transport/Message.scala`). A frame on the
 * wire is `size:u32 | type:i8 | tag:u24 | body`; the Connection strips `size`, so the codecs here
 * start at `type`. A positive type is a T-message, its reply is the negation; |type| >= 64 are
 * session messages.
 */
export const MuxType = {
  Treq: 1,
  Rreq: -1,
  Tdispatch: 2,
  Rdispatch: -2,
  Tdrain: 64,
  Rdrain: -64,
  Tping: 65,
  Rping: -65,
  Tdiscarded: 66,
  Rdiscarded: -66,
  Tlease: 67,
  Tinit: 68,
  Rinit: -68,
  Rerr: -128,
  /** Legacy alias of Rerr that current Finagle still sends (the "tinit check" probe uses it). */
  RerrLegacy: 127,
  /** Legacy alias of Tdiscarded that current Finagle still sends. */
  TdiscardedLegacy: -62,
} as const;

/** Tag of marker messages (Tdiscarded, Tlease): no reply. */
export const MARKER_TAG = 0;
/** Finagle's control tag: pings, the handshake, drain. */
export const CONTROL_TAG = 1;
/** Dispatch tags: 2 .. 2^23-1. */
export const FIRST_DISPATCH_TAG = 2;
export const MAX_TAG = 0x7fffff;
/** The tag's top bit: more fragments of this message follow. */
export const FRAGMENT_BIT = 0x800000;

/** Rdispatch / Rreq status byte. */
export const ReplyStatus = { OK: 0, ERROR: 1, NACK: 2 } as const;

/** The handshake probe's text: `Rerr(tag 1, "tinit check")` sent as type 127. */
export const TINIT_CHECK = 'tinit check';
/** The Mux protocol version we speak in Tinit/Rinit. */
export const MUX_VERSION = 1;

/** Bytes of `type:i8 tag:u24` at the start of every message. */
export const HEADER_BYTES = 4;
