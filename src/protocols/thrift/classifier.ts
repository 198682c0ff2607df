import { classifier, type ResponseClassifier } from '../../core/classify.js';
import { MessageType } from './descriptors.js';
import type { ThriftReply } from './messages.js';
import { isOverloadRejection } from './server-codec.js';

/**
 * For the call-level roles (retries, hedging, stats): the default table, and a server's overload
 * answer (`Overloaded: ...`, the request did not run) is `retryable`: sent to another node whatever
 * the method's idempotency, within the retry budget.
 */
export const thriftClassifier: ResponseClassifier = classifier({
  error: (err) => (isOverloadRejection(err) ? 'retryable' : undefined),
});

/**
 * For the per-endpoint roles (failure accrual, node stats), which sit below the serializer and
 * see raw messages: an EXCEPTION message (TApplicationException) is a failure of the node, code
 * APPLICATION; a REPLY is a success, even when it carries a declared exception (the call-level
 * roles above the serializer see that one as USER_EXCEPTION).
 */
export const thriftEndpointClassifier: ResponseClassifier = classifier({
  reply: (rep) => ((rep as ThriftReply).type === MessageType.EXCEPTION ? 'failure' : 'success'),
  replyCode: (rep) => ((rep as ThriftReply).type === MessageType.EXCEPTION ? 'APPLICATION' : undefined),
});
