import { ByteNames } from '../../core/byte-names.js';

/**
 * Message names a reader expects (a service's methods; the one name a reply must carry), kept as
 * their UTF-8 bytes. A message header whose name bytes match one is given that very string: no
 * string is decoded per message, and the Map lookup or comparison that follows meets a string
 * whose hash is already computed (or the identical object). Anything else is decoded as before.
 */
export type KnownNames = ByteNames<string>;

/** A lookup of `names`, each found as that very string. */
export function knownNames(names: Iterable<string>): KnownNames {
  const known = new ByteNames<string>();
  for (const name of names) known.set(name, name);
  return known;
}

const ONE_NAME = Symbol('scales.thrift.knownName');

/** The single name a reply to `method` must carry, cached on the descriptor (one property load per call). */
export function replyName(method: { readonly name: string }): KnownNames {
  const m = method as unknown as Record<symbol, KnownNames | undefined>;
  let k = m[ONE_NAME];
  if (k === undefined) {
    k = knownNames([method.name]);
    Object.defineProperty(method, ONE_NAME, { value: k });
  }
  return k;
}
