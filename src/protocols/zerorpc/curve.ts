/** CURVE (ZeroMQ's encryption and authentication) settings, as Z85 keys (`zmq.curveKeyPair()`). */
export interface CurveKeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

export interface CurveClientOptions extends CurveKeyPair {
  /** The server's public key. */
  readonly serverKey: string;
}

export interface CurveServerOptions extends CurveKeyPair {
  /** Client public keys allowed in; undefined: any client that knows the server's key. */
  readonly allow?: readonly string[];
}
