import { InvalidArgumentError } from '../../core/errors.js';
import { parseAddress } from '../uri.js';

/** A parsed `zk://zk1:2181,zk2:2181/path/to/service[?chroot=/prefix][#name]`. */
export interface ZkUri {
  /** `host:port,host:port` (with `/chroot` appended when one is given), as the client library takes it. */
  readonly connectString: string;
  /** The serverset's znode path (under the chroot, if any). */
  readonly path: string;
  /** `#name`: route to `additionalEndpoints[name]` instead of `serviceEndpoint`. */
  readonly endpointName: string | undefined;
  /** The URI as written, for logs and stats. */
  readonly raw: string;
}

/** Parses a `zk://` URI (or the part after `zk://`). */
export function parseZkUri(uri: string): ZkUri {
  const raw = uri.trim();
  const rest = raw.replace(/^zk:\/\//i, '');
  const hash = rest.indexOf('#');
  const endpointName = hash >= 0 ? decodeURIComponent(rest.slice(hash + 1)) : undefined;
  if (endpointName === '') throw new InvalidArgumentError(`empty '#name' in '${raw}'`);
  const beforeHash = hash >= 0 ? rest.slice(0, hash) : rest;
  const q = beforeHash.indexOf('?');
  const query = new URLSearchParams(q >= 0 ? beforeHash.slice(q + 1) : '');
  const hostsAndPath = q >= 0 ? beforeHash.slice(0, q) : beforeHash;
  const slash = hostsAndPath.indexOf('/');
  if (slash < 0) throw new InvalidArgumentError(`'${raw}' names no znode path: expected zk://host:port[,host:port]/path`);
  const hosts = hostsAndPath.slice(0, slash);
  const path = normalizePath(hostsAndPath.slice(slash), raw);
  if (path === '/') throw new InvalidArgumentError(`'${raw}': the serverset path cannot be the root`);
  const addresses = hosts
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '')
    .map((h) => parseAddress(h, raw));
  if (addresses.length === 0) throw new InvalidArgumentError(`'${raw}' names no ZooKeeper server`);
  const chroot = query.get('chroot');
  const ensemble = addresses.map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)).join(',');
  const connectString = chroot === null || chroot === '' || chroot === '/' ? ensemble : `${ensemble}${normalizePath(chroot, raw)}`;
  return { connectString, path, endpointName, raw };
}

function normalizePath(p: string, raw: string): string {
  const path = p.replace(/\/+$/, '') || '/';
  if (!path.startsWith('/') || /\/\//.test(path) || /(^|\/)\.\.?(\/|$)/.test(path)) throw new InvalidArgumentError(`bad znode path '${p}' in '${raw}'`);
  return path;
}
