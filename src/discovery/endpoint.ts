import { InvalidArgumentError } from '../core/errors.js';

/**
 * Where one node of a destination lives. A TCP (or TLS) endpoint is a host and a port; other
 * transports name theirs by a URI of their own (`ipc:///run/svc.sock` for ZeroMQ, a queue URL):
 * a transport takes the kinds it can reach and refuses the rest with a clear error.
 */
export type Endpoint = TcpEndpoint | UriEndpoint;

export interface TcpEndpoint {
  /** 'tcp' when absent. */
  readonly scheme?: 'tcp' | 'tls';
  readonly host: string;
  readonly port: number;
}

export interface UriEndpoint {
  /** `ipc`, `inproc`, `sqs`, `redis`...: whatever the transport understands. */
  readonly scheme: string;
  /** The whole address, `scheme://...`. */
  readonly uri: string;
}

/** A host-and-port endpoint (the shape of every `tcp://` destination). */
export type Address = TcpEndpoint;

export function isTcpEndpoint(e: Endpoint): e is TcpEndpoint {
  return (e as TcpEndpoint).host !== undefined && (e as TcpEndpoint).port !== undefined;
}

/** `host:port` (IPv6 in brackets), as used in error messages and stats. */
export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * The endpoint's name, unique within a destination: `host:port` for plain TCP (what stats and
 * errors have always shown), `tls://host:port`, or the URI.
 */
export function endpointKey(e: Endpoint): string {
  if (isTcpEndpoint(e)) return e.scheme === 'tls' ? `tls://${formatAddress(e)}` : formatAddress(e);
  return e.uri;
}

/** The endpoint as a TCP address, for transports that only reach those. */
export function tcpAddress(e: Endpoint, transport: string): Address {
  if (!isTcpEndpoint(e)) throw new InvalidArgumentError(`${transport} reaches host:port endpoints only, got '${endpointKey(e)}'`);
  return e;
}
