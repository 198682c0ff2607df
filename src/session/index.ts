export { UNTAGGED, type MultiplexedCodec, type SessionCodec, type SessionControl } from './codec.js';
export { SessionBase, type SessionOptions } from './base.js';
export { MultiplexedSession } from './multiplexed.js';
export { SerialSession } from './serial.js';
