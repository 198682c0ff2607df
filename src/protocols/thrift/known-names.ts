/**
 * Message names a reader expects (a service's methods; the one name a reply must carry), kept as
 * their UTF-8 bytes. A message header whose name bytes match one is given that very string: no
 * string is decoded per message, and the Map lookup or comparison that follows meets a string
 * whose hash is already computed (or the identical object). Anything else is decoded as before.
 */
export class KnownNames {
  /** Entries by byte length: a lookup compares bytes only against names of the same length. */
  private readonly byLength: ({ readonly bytes: Buffer; readonly name: string }[] | undefined)[] = [];

  constructor(names: Iterable<string>) {
    for (const name of names) {
      const bytes = Buffer.from(name, 'utf8');
      (this.byLength[bytes.length] ??= []).push({ bytes, name });
    }
  }

  /** The known name spelled by b[p, p + n), or undefined. */
  find(b: Buffer, p: number, n: number): string | undefined {
    const same = this.byLength[n];
    if (same === undefined) return undefined;
    next: for (let k = 0; k < same.length; k++) {
      const e = same[k]!;
      const bytes = e.bytes;
      for (let i = 0; i < n; i++) if (b[p + i] !== bytes[i]) continue next;
      return e.name;
    }
    return undefined;
  }
}

const ONE_NAME = Symbol('scales.thrift.knownName');

/** The single name a reply to `method` must carry, cached on the descriptor (one property load per call). */
export function replyName(method: { readonly name: string }): KnownNames {
  const m = method as unknown as Record<symbol, KnownNames | undefined>;
  let k = m[ONE_NAME];
  if (k === undefined) {
    k = new KnownNames([method.name]);
    Object.defineProperty(method, ONE_NAME, { value: k });
  }
  return k;
}
