/**
 * Both ends of a ThriftMux connection cut a large read into batches (ConnectionOptions.readSplit):
 * after the first 50 messages of a read, what their continuations wrote goes out before the rest
 * is delivered (then after 100 more, 200...). With one batch of every call in flight crossing
 * between two processes, one side idles while the other works; two batches keep both busy.
 * Measured 2026-12-02 (BENCH_MODE=ab, quiet 2-core machine, load 1.3–1.9): at 100 calls in flight
 * 158k → 314k calls/s with less CPU per call on both sides (−19 % / −14 %); at 1,000, +10 %
 * calls/s for ~+25 % client CPU per call (more writes); a fixed split every 50 cost more there.
 */
export const MUX_READ_SPLIT = 50;
