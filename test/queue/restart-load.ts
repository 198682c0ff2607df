// The producer side of a "broker restarted under load" test: batches of 500 calls; once 3,000
// were sent the broker is restarted, and sending goes on until 3,000 more were accepted after
// it. Returns which calls the broker accepted and the codes of those it refused; the tests
// assert on what they need (nothing accepted is lost, clear error codes).
import assert from 'node:assert/strict';

export interface RestartLoad {
  sent: number;
  accepted: bigint[];
  codes: Map<string, number>;
}

export async function sendThroughRestart(notify: (id: bigint) => Promise<unknown>, restartBroker: () => Promise<void>): Promise<RestartLoad> {
  const load: RestartLoad = { sent: 0, accepted: [], codes: new Map() };
  let restart: Promise<void> | undefined;
  let restarted = false;
  let acceptedAfter = 0;
  while (!restarted || acceptedAfter < 3000) {
    if (restart === undefined && load.sent > 3000) restart = restartBroker().then(() => void (restarted = true));
    const ids = Array.from({ length: 500 }, () => BigInt(load.sent++));
    const r = await Promise.allSettled(ids.map((id) => notify(id)));
    r.forEach((x, i) => {
      if (x.status === 'fulfilled') {
        load.accepted.push(ids[i]!);
        if (restarted) acceptedAfter++;
      } else {
        const code = (x.reason as { code?: string }).code ?? String(x.reason);
        load.codes.set(code, (load.codes.get(code) ?? 0) + 1);
      }
    });
    await new Promise((r) => setTimeout(r, 5));
    assert.ok(load.sent < 500_000, 'the client never recovered after the restart');
  }
  await restart;
  return load;
}
