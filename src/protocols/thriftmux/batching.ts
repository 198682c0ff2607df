/**
 * How a ThriftMux connection batches its writes.
 *
 * The read split (both ends, ConnectionOptions.readSplit): after the first 50 messages of a read,
 * what their continuations wrote goes out before the rest is delivered (then after 100 more,
 * 200...). With one batch of every call in flight crossing between two processes, one side idles
 * while the other works; two batches keep both busy. Measured 2026-12-02 (BENCH_MODE=ab, quiet
 * 2-core machine): at 100 calls in flight 158k → 314k calls/s with less CPU per call on both
 * sides (−19 % / −14 %).
 */
export const MUX_READ_SPLIT = 50;

/**
 * The client's flush hold (Connection.holdFlush): a batch waits another event-loop turn while the
 * calls in flight are at least this many times the batch (the server still holds three batches'
 * worth, so it does not run dry meanwhile). With many calls in flight
 * each side answered every read at once, so ~15 small batches (~60 calls) circulated, each a
 * write and a read on both sides; held, they merge until a batch is a quarter of what is in
 * flight. Measured 2026-12-03 (BENCH_MODE=ab, pinned, 2–3 sets): at 1,000 in flight factor 3
 * +14.1 % calls/s (client −12.6 %, server −12.8 % CPU per call), 4 +23.0 %, 5 +17.5 %; at 100 in
 * flight (two batches of 50 are what the split wants) 3: +1.0 %, 4: −1.0 %, but 2: −20.7 %.
 * Factor 4 at 300 in flight +2.1 %, at 30 +0.4 %: no change where batches were not the cost.
 */
export const MUX_HOLD_FACTOR = 4;
