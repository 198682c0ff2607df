// Mux, payload-agnostic (Finagle's finagle-mux): the wire codec, contexts, the client session codec
// and handshake, and a server's per-connection state. ThriftMux (../thriftmux) puts Thrift in it.
export { MuxType, ReplyStatus, FRAGMENT_BIT, MAX_TAG, CONTROL_TAG, MARKER_TAG, FIRST_DISPATCH_TAG, TINIT_CHECK, MUX_VERSION } from './types.js';
export { decodeMessage, encodeMessage, DEFAULT_MUX_LIMITS, type MuxMessage, type MuxEntry, type MuxLimits } from './wire.js';
export { FragmentWriter, Reassembler, ReassemblyBudget } from './fragments.js';
export { MuxClientCodec, type MuxClientCodecOptions } from './client-codec.js';
export { clientHandshake, TINIT_CHECK_MESSAGE, framerHeader, type HandshakeResult } from './handshake.js';
export { Pinger, DEFAULT_PING_INTERVAL_MS, DEFAULT_PING_TIMEOUT_MS } from './pinger.js';
export { writeDispatchHead } from './dispatch-head.js';
export { MuxServerConn, readContexts, type DiscardableCall, type MuxServerLimits } from './server-conn.js';
export * from './contexts.js';
export { MuxNackError, MuxServerError } from './errors.js';
export type { MuxRequest, MuxReply } from './request.js';
