/** What a Mux client session carries: an encoded Tdispatch body, and the reply's bytes. */

/** One call below the serializer: the Tdispatch body after `type tag` (contexts, dest, dtab, payload). */
export interface MuxRequest {
  /** The method, for errors. */
  readonly name: string;
  /**
   * The body. A serializer may lend a view of its scratch buffer here for the synchronous
   * dispatch only: the codec copies it into the connection's batch (or, for a fragmented call,
   * into a buffer of its own) and sets `written`; a request not written by then must be given
   * bytes of its own by whoever lent the view (it waits, e.g. in a pool's queue).
   */
  readonly body: Buffer;
  /** Set by the codec once `body` was copied out: the lender may reuse its bytes. */
  written?: boolean;
}

/** An `Rdispatch OK` (or `Rreq OK`): the payload is message[offset, end). */
export interface MuxReply {
  readonly message: Buffer;
  readonly offset: number;
  readonly end: number;
}
