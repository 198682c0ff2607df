import { InvalidArgumentError } from '../core/errors.js';

import type { Address } from './endpoint.js';

export { formatAddress, type Address } from './endpoint.js';

export interface Destination {
  readonly scheme: string;
  readonly addresses: readonly Address[];
  /** The string it was parsed from (for errors and stats). */
  readonly raw: string;
}

export function parseAddress(text: string, raw = text): Address {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (m === null) throw new InvalidArgumentError(`bad address '${text}' in '${raw}': expected host:port`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`bad port ${m[3]} in '${raw}': expected 1-65535`);
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * Parses a destination: `tcp://h1:p1,h2:p2` (a static set), `tls://h1:p1,...` (the same, each
 * endpoint reached over TLS) or a bare `h:p[,h:p]`.
 * Other schemes (`zk://`) are resolved by discovery plug-ins, not here.
 */
export function parseDestination(dest: string): Destination {
  if (typeof dest !== 'string' || dest.trim() === '') throw new InvalidArgumentError('destination must be a non-empty string like tcp://host:port');
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(dest.trim());
  const scheme = m ? m[1]!.toLowerCase() : 'tcp';
  const rest = m ? m[2]! : dest.trim();
  if (scheme !== 'tcp' && scheme !== 'tls') throw new InvalidArgumentError(`unsupported destination scheme '${scheme}://' in '${dest}' (supported: tcp://, tls://)`);
  const parts = rest
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new InvalidArgumentError(`destination '${dest}' names no address`);
  const addresses = parts.map((p) => parseAddress(p, dest));
  return { scheme, addresses: scheme === 'tls' ? addresses.map((a) => ({ ...a, scheme: 'tls' as const })) : addresses, raw: dest };
}
