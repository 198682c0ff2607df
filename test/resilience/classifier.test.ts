import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  InvalidArgumentError,
  CancelledError,
  ClosedError,
  ConnectError,
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameTooLargeError,
  NodeUnavailableError,
  NoNodesError,
  OverloadedError,
  ProtocolError,
  TimeoutError,
} from '../../src/core/errors.js';
import { TApplicationExceptionType, ThriftApplicationError } from '../../src/protocols/thrift/application-exception.js';
import { MessageType, ThriftException } from '../../src/protocols/thrift/descriptors.js';
import { classifier, classifyError, defaultClassifier, outcomeCode } from '../../src/core/classify.js';
import { thriftEndpointClassifier } from '../../src/protocols/thrift/classifier.js';
import { isRetryable } from '../../src/resilience/classifier.js';
const classify = classifyError;

class NotFound extends ThriftException {
  constructor() {
    super('NotFound', { message: 'no such user' });
  }
}

test('classify: declared exceptions are answers, cancels are nobody’s fault', () => {
  assert.equal(classify(new NotFound()), 'success');
  assert.equal(classify(new ThriftApplicationError(TApplicationExceptionType.INTERNAL_ERROR, 'boom')), 'failure');
  assert.equal(classify(new CancelledError()), 'ignored');
  assert.equal(classify(new TimeoutError()), 'failure');
  assert.equal(classify(new ConnectionClosedError()), 'failure');
  assert.equal(classify(new NodeUnavailableError('x')), 'failure');
  assert.equal(classify(new TypeError('bug')), 'failure');
  assert.equal(classify('a string'), 'failure');
});

test('isRetryable follows the documented table', () => {
  // [error, idempotent?, non-idempotent?]
  const table: [unknown, boolean, boolean][] = [
    [new ConnectError('refused'), true, true],
    [new ConnectTimeoutError('slow'), true, true],
    [new OverloadedError('full'), true, true],
    [new NoNodesError('none'), true, true],
    [new NodeUnavailableError('dead'), true, true],
    [new ConnectionClosedError(), true, false],
    [new ProtocolError('garbage'), true, false],
    [new TimeoutError(), false, false],
    [new TimeoutError('queued too long', { unwritten: true }), false, false],
    [new CancelledError(), false, false],
    [new InvalidArgumentError('expected string, got number'), false, false],
    [new ThriftApplicationError(TApplicationExceptionType.UNKNOWN_METHOD, 'nope'), false, false],
    [new NotFound(), false, false],
    [new FrameTooLargeError(10, 5), false, false],
    [new ClosedError(), false, false],
    [new Error('foreign'), false, false],
  ];
  for (const [err, idem, nonIdem] of table) {
    const name = (err as Error).constructor.name;
    assert.equal(isRetryable(err, true), idem, `${name} idempotent`);
    assert.equal(isRetryable(err, false), nonIdem, `${name} non-idempotent`);
  }
});

test('raw Thrift replies: EXCEPTION messages are node failures (code APPLICATION)', () => {
  const m = Buffer.alloc(0);
  const exception = { type: MessageType.EXCEPTION, message: m, offset: 0 };
  const reply = { type: MessageType.REPLY, message: m, offset: 0 };
  assert.equal(thriftEndpointClassifier.classify(true, exception), 'failure');
  assert.equal(thriftEndpointClassifier.code(true, exception), 'APPLICATION');
  assert.equal(thriftEndpointClassifier.classify(true, reply), 'success');
  assert.equal(thriftEndpointClassifier.code(true, reply), undefined);
  assert.equal(thriftEndpointClassifier.classify(false, new TimeoutError()), 'failure');
});

test('stats codes: ScalesError code without prefix, USER_EXCEPTION for declared errors, UNKNOWN', () => {
  assert.equal(outcomeCode(new TimeoutError()), 'TIMEOUT');
  assert.equal(outcomeCode(new ThriftApplicationError(TApplicationExceptionType.INTERNAL_ERROR, 'x')), 'APPLICATION');
  assert.equal(outcomeCode(new NotFound()), 'USER_EXCEPTION');
  assert.equal(outcomeCode(new TypeError('bug')), 'UNKNOWN');
  assert.equal(defaultClassifier.code(true, 'any reply'), undefined);
  assert.equal(defaultClassifier.code(false, new NotFound()), 'USER_EXCEPTION');
});

test('a protocol overrides only what it names; the rest follows the default table', () => {
  const nack = new OverloadedError('nack');
  const c = classifier({ error: (e) => (e === nack ? 'retryable' : undefined), reply: (r) => (r === 'bad' ? 'failure' : 'success') });
  assert.equal(c.classify(false, nack), 'retryable');
  assert.equal(c.classify(false, new CancelledError()), 'ignored');
  assert.equal(c.classify(false, new NotFound()), 'success');
  assert.equal(c.classify(true, 'bad'), 'failure');
  assert.equal(c.classify(true, 'good'), 'success');
});
