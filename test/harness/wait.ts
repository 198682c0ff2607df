/** Waiting in tests: a pause, and polling until a condition holds (one copy for every suite). */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. Resolves to
 * the milliseconds it took. A condition that holds at once is not awaited (no turn is lost).
 */
export async function until(what: string | (() => string), cond: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 5): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const held = cond();
    if (typeof held === 'boolean' ? held : await held) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await sleep(everyMs);
  }
}
