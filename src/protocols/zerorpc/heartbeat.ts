/**
 * The heartbeat both ends run over their open channels (zerorpc's HeartBeatOnChannel, one timer
 * per socket instead of one per channel): every `interval` ms each open channel gets `_zpc_hb [0]`,
 * and a channel whose remote sent nothing for more than twice the interval is lost. A silent
 * remote is thus declared lost 10–15 s after its last sign with the default 5 s (zerorpc-python
 * takes ~15 s). Calls shorter than an interval never meet the timer; it stops when no channel is open.
 */
import { performance } from '../../core/clock.js';

/** zerorpc's default heartbeat interval (ms). */
export const DEFAULT_HEARTBEAT_MS = 5000;

export interface HeartbeatChannel {
  /** `performance.now()` of the remote's last event on this channel (its opening at first). */
  readonly lastRemote: number;
}

export class HeartbeatTicker<C extends HeartbeatChannel> {
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly interval: number,
    private readonly channels: () => Iterable<C>,
    private readonly beat: (ch: C) => void,
    private readonly lost: (ch: C) => void,
  ) {}

  /** A channel opened: make sure the timer runs. */
  opened(): void {
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.interval);
      this.timer.unref();
    }
  }

  private tick(): void {
    const now = performance.now();
    const limit = this.interval * 2;
    let open = 0;
    const lost: C[] = [];
    for (const ch of this.channels()) {
      open++;
      if (now - ch.lastRemote > limit) lost.push(ch);
      else this.beat(ch);
    }
    for (const ch of lost) this.lost(ch);
    if (open === 0) this.stop();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
