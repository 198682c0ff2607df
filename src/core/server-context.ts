/** What a server handler receives as its last argument. */
export interface ServerCallContext {
  /** The method being served. */
  readonly method: string;
  /** Absolute `Date.now()` deadline, when the protocol carries one or the server sets one. */
  readonly deadline: number | undefined;
  /** Aborted when the caller is gone (its connection closed) or the server is shutting down. */
  readonly signal: AbortSignal;
  /** `host:port` of the caller. */
  readonly peer: string;
}
