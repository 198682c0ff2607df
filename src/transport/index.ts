export { CLOSED_BEFORE_ANY_REPLY, Connection, type ConnectionOptions } from './connection.js';
export { connectSocket, formatEndpoint, type ConnectOptions } from './connect.js';
export { FrameBudget, partialFrameBudget, DEFAULT_PARTIAL_FRAME_BUDGET, type FrameBudgetHolder } from './frame-budget.js';
export { createDecoder, mismatchHint, LengthPrefixedDecoder, MeasuredDecoder, type FrameDecoder, type FrameSink, type Framing, type MessageMeasurer } from './framing.js';
export { getFlushScheduling, setFlushScheduling, setReadSplit, type FlushScheduling } from './flush-scheduling.js';
export { listenTcp, type TcpListener, type TcpListenOptions } from './server.js';
