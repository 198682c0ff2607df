/** What a Mux client session carries: an encoded Tdispatch body, and the reply's bytes. */

/** One call below the serializer: the Tdispatch body after `type tag` (contexts, dest, dtab, payload). */
export interface MuxRequest {
  /** The method, for errors. */
  readonly name: string;
  readonly body: Buffer;
}

/** An `Rdispatch OK` (or `Rreq OK`): the payload starts at `offset` in `message`. */
export interface MuxReply {
  readonly message: Buffer;
  readonly offset: number;
}
