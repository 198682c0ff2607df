import { InvalidArgumentError } from '../core/errors.js';
import { StaticServerSet, type ServerSet } from './serverset.js';
import { endpointKey } from './endpoint.js';
import { parseDestination } from './uri.js';
import { ZkServerSet } from './zk/serverset.js';
import { DnsServerSet } from './dns.js';

/** Turns the part after `scheme://` into a live ServerSet (e.g. a ZooKeeper watcher). */
export type SchemeResolver = (rest: string, raw: string) => ServerSet;

const resolvers = new Map<string, SchemeResolver>();
// Built in: `zk://` loads its client library only when a zk destination is made.
resolvers.set('zk', (_rest, raw) => new ZkServerSet(raw));
resolvers.set('dns', (_rest, raw) => new DnsServerSet(raw));

/**
 * Plugs in a destination scheme: `registerScheme('zk', (rest) => new ZkServerSet(rest))`.
 * `tcp` is built in (a static set); registering it again replaces it.
 */
export function registerScheme(scheme: string, resolver: SchemeResolver): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new InvalidArgumentError(`bad scheme name '${scheme}': lowercase letters, digits, + . -`);
  resolvers.set(scheme, resolver);
}

export interface ResolvedDestination {
  readonly serverSet: ServerSet;
  /** For stats and errors: the destination as the user wrote it, or the set's addresses. */
  readonly label: string;
  /** The client made the set, so it closes it too. */
  readonly owned: boolean;
}

/** A destination string (`tcp://h:p,h:p`, `tls://h:p`, a bare `h:p`, or a registered scheme) or a ready ServerSet. */
export function resolveDestination(dest: string | ServerSet): ResolvedDestination {
  if (typeof dest !== 'string') {
    if (dest === null || typeof dest !== 'object' || typeof dest.subscribe !== 'function') {
      throw new InvalidArgumentError('destination must be a string like tcp://host:port or a ServerSet');
    }
    return { serverSet: dest, label: dest.addresses.map(endpointKey).join(',') || 'serverset', owned: false };
  }
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(dest.trim());
  const scheme = m?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'tcp' && scheme !== 'tls') {
    const resolver = resolvers.get(scheme);
    if (resolver === undefined) {
      throw new InvalidArgumentError(`unsupported destination scheme '${scheme}://' in '${dest}' (supported: ${['tcp', 'tls', ...resolvers.keys()].join(', ')})`);
    }
    return { serverSet: resolver(m![2]!, dest), label: dest, owned: true };
  }
  const parsed = parseDestination(dest);
  return { serverSet: new StaticServerSet(parsed.addresses), label: parsed.addresses.map(endpointKey).join(','), owned: true };
}
