/**
 * Names looked up by the bytes that spell them in a buffer, without making a string per lookup:
 * a Thrift message's method name, a Mux context's key. Entries are kept by UTF-8 length, so a
 * lookup compares bytes only against names of the same length.
 */
export class ByteNames<T> {
  private readonly byLength: ({ readonly bytes: Buffer; readonly value: T }[] | undefined)[] = [];

  /**
   * `caseless`: names are kept lower-cased, and the bytes looked up match them with their ASCII
   * letters in either case (other bytes as they are: no string is made to lower-case them).
   */
  constructor(private readonly caseless = false) {}

  /** Adds `name` → `value`; a name added again takes the new value. */
  set(name: string, value: T): this {
    const bytes = Buffer.from(this.caseless ? name.toLowerCase() : name, 'utf8');
    const same = (this.byLength[bytes.length] ??= []);
    const at = same.findIndex((e) => e.bytes.equals(bytes));
    if (at >= 0) same[at] = { bytes, value };
    else same.push({ bytes, value });
    return this;
  }

  /** The value of the name spelled by b[p, p + n), or undefined. */
  find(b: Buffer, p: number, n: number): T | undefined {
    const same = this.byLength[n];
    if (same === undefined) return undefined;
    if (this.caseless) return findCaseless(same, b, p, n);
    // Exact bytes, apart from the caseless loop: a method name is looked up on every call, and a
    // case test per byte cost a server ~6 % of its CPU per call (bench/mux-paths.ts).
    next: for (let k = 0; k < same.length; k++) {
      const e = same[k]!;
      const bytes = e.bytes;
      for (let i = 0; i < n; i++) if (b[p + i] !== bytes[i]) continue next;
      return e.value;
    }
    return undefined;
  }
}

function findCaseless<T>(same: readonly { readonly bytes: Buffer; readonly value: T }[], b: Buffer, p: number, n: number): T | undefined {
  next: for (let k = 0; k < same.length; k++) {
    const e = same[k]!;
    const bytes = e.bytes;
    for (let i = 0; i < n; i++) {
      let ch = b[p + i]!;
      if (ch >= 0x41 && ch <= 0x5a) ch += 0x20; // A-Z
      if (ch !== bytes[i]) continue next;
    }
    return e.value;
  }
  return undefined;
}
