import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
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
import { classify, classifyThriftReply, isRetryable } from '../../src/resilience/classifier.js';

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

test('raw Thrift replies: EXCEPTION messages are node failures', () => {
  const m = Buffer.alloc(0);
  assert.equal(classifyThriftReply({ type: MessageType.EXCEPTION, message: m, offset: 0 }), 'failure');
  assert.equal(classifyThriftReply({ type: MessageType.REPLY, message: m, offset: 0 }), 'success');
});
