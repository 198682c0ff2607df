/**
 * Scratch for 64-bit integers as two uint32 halves: writing the halves and reading a
 * BigInt64Array / BigUint64Array slot (or the reverse) makes one BigInt, several times cheaper
 * than BigInt arithmetic, `BigInt(double)` or `readBigUInt64BE` (three BigInts). `HI` and `LO`
 * index the halves on this host. Shared by every codec: each use is synchronous, write then read.
 */
export const SCR_U32 = new Uint32Array(2);
export const SCR_I64 = new BigInt64Array(SCR_U32.buffer);
export const SCR_U64 = new BigUint64Array(SCR_U32.buffer);
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
export const LO = HOST_LE ? 0 : 1;
export const HI = HOST_LE ? 1 : 0;
