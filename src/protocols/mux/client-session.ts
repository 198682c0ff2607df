import type { Status } from '../../core/service.js';
import { MultiplexedSession } from '../../session/multiplexed.js';
import type { Pinger } from './pinger.js';

/** A Mux client session: tag-multiplexed, and 'busy' while its failure detector's ping is late. */
export class MuxClientSession<Req, Rep> extends MultiplexedSession<Req, Rep> {
  /** Set once the session pings (pingInterval > 0). */
  pinger: Pinger | undefined = undefined;

  override get status(): Status {
    const s = super.status;
    return s === 'open' && this.pinger?.busy === true ? 'busy' : s;
  }
}
