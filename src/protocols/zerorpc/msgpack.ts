/**
 * MessagePack as ZeroRPC peers speak it (Python's `use_bin_type=True`): str and bin apart
 * (strings ⇄ str, Uint8Array/Buffer ⇄ bin), integers in their smallest form, 64-bit integers as
 * numbers when safe and BigInt otherwise (never a float), `undefined` as nil, floats as float64.
 *
 * @msgpack/msgpack rather than msgpackr: msgpackr decodes about twice as fast here, but encodes a
 * safe integer above 2^32 (1099511627776) as a float64, which a Python peer reads back as a float.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { ProtocolError } from '../../core/errors.js';

/** Default largest ZeroMQ message (one event) accepted: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** The decoder's private helpers this module replaces (see `SafeDecoder`). */
interface DecoderInternals {
  view: DataView;
  pos: number;
  pushArrayState(size: number): void;
  pushMapState(size: number): void;
  readU64AsBigInt(): number | bigint;
  readI64AsBigInt(): number | bigint;
}

/**
 * A decoder that (1) returns 64-bit integers as numbers when they are safe, and (2) refuses an
 * array or map header that claims more elements than bytes are left (every element takes at least
 * one byte): a 6-byte message claiming 2^32 elements fails before anything is allocated.
 */
class SafeDecoder extends Decoder {}
{
  const proto = SafeDecoder.prototype as unknown as DecoderInternals;
  const base = Decoder.prototype as unknown as DecoderInternals;
  const pushArray = base.pushArrayState;
  const pushMap = base.pushMapState;
  proto.pushArrayState = function (this: DecoderInternals, size: number) {
    if (size > this.view.byteLength - this.pos) throw new ProtocolError(`msgpack array claims ${size} elements, ${this.view.byteLength - this.pos} bytes left`);
    pushArray.call(this, size);
  };
  proto.pushMapState = function (this: DecoderInternals, size: number) {
    if (size * 2 > this.view.byteLength - this.pos) throw new ProtocolError(`msgpack map claims ${size} entries, ${this.view.byteLength - this.pos} bytes left`);
    pushMap.call(this, size);
  };
  proto.readU64AsBigInt = function (this: DecoderInternals) {
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v <= MAX_SAFE ? Number(v) : v;
  };
  proto.readI64AsBigInt = function (this: DecoderInternals) {
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
  };
  // The helpers must exist under these names, or the overrides above would silently do nothing.
  if (typeof pushArray !== 'function' || typeof pushMap !== 'function' || typeof base.readU64AsBigInt !== 'function') {
    throw new Error('@msgpack/msgpack internals changed: update src/protocols/zerorpc/msgpack.ts');
  }
}

/** The encoder's private helpers this module replaces (see `SafeEncoder`). */
interface EncoderInternals {
  encodeNumberAsFloat(n: number): void;
  encodeBigInt64(n: bigint): void;
}

/**
 * With `useBigInt64` (needed to encode BigInt), @msgpack/msgpack writes a safe integer beyond 32
 * bits as a float64; this one writes it as int64/uint64, as Python does.
 */
class SafeEncoder extends Encoder {}
{
  const proto = SafeEncoder.prototype as unknown as EncoderInternals;
  const asFloat = (Encoder.prototype as unknown as EncoderInternals).encodeNumberAsFloat;
  if (typeof asFloat !== 'function' || typeof proto.encodeBigInt64 !== 'function') throw new Error('@msgpack/msgpack internals changed: update src/protocols/zerorpc/msgpack.ts');
  proto.encodeNumberAsFloat = function (this: EncoderInternals, n: number) {
    if (Number.isSafeInteger(n)) this.encodeBigInt64(BigInt(n));
    else asFloat.call(this, n);
  };
}

const encoder = new SafeEncoder({ useBigInt64: true, ignoreUndefined: false });

/** Encodes one value. Throws (a TypeError, a RangeError) on what MessagePack cannot carry. */
export function pack(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** A decoder bounded by `maxBytes` per string/binary (the message size bounds the rest). */
export function makeUnpacker(maxBytes: number = DEFAULT_MAX_MESSAGE_SIZE): (bytes: Uint8Array) => unknown {
  const decoder = new SafeDecoder({
    useBigInt64: true,
    maxStrLength: maxBytes,
    maxBinLength: maxBytes,
    maxArrayLength: maxBytes,
    maxMapLength: maxBytes,
    maxExtLength: maxBytes,
    // msgpack maps with integer keys ({1: 2}) are accepted; their keys become strings.
    mapKeyConverter: (key: unknown) => {
      if (typeof key === 'string' || typeof key === 'number') return key;
      if (typeof key === 'bigint' || typeof key === 'boolean' || key === null) return String(key);
      throw new ProtocolError('msgpack map key is not a string or a number');
    },
  });
  return (bytes) => decoder.decode(bytes);
}
