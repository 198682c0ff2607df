import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import type { CallContext, Service } from '../../src/core/service.js';
import { layer, Stack, type StackLayer } from '../../src/core/stack.js';

// A layer that records its name on the way down, so the built order is observable.
function tagLayer(role: string): StackLayer {
  return layer(role, `adds ${role}`, (below: Service<string[], string[]>) => ({
    status: 'open' as const,
    call: (req: string[], ctx: CallContext) => below.call([...req, role], ctx),
    close: () => below.close(),
  }));
}
const terminal: StackLayer = {
  role: 'transport',
  description: 'echoes the path',
  make: () => ({ status: 'open', call: (req: string[]) => Promise.resolve(req), close: () => Promise.resolve() }),
};

test('builds top-down in the listed order and describes it', async () => {
  const stack = new Stack([tagLayer('a'), tagLayer('b'), terminal]);
  const svc = stack.build<string[], string[]>();
  assert.deepEqual(await svc.call([], {} as CallContext), ['a', 'b']);
  assert.equal(stack.describe(), '1. a          adds a\n2. b          adds b\n3. transport  echoes the path');
});

test('insert, replace and remove by role', async () => {
  const base = new Stack([tagLayer('a'), tagLayer('b'), terminal]);
  const edited = base.insertBefore('b', tagLayer('x')).insertAfter('b', tagLayer('y')).replace('a', tagLayer('z')).remove('x');
  assert.deepEqual(edited.roles, ['z', 'b', 'y', 'transport']);
  assert.deepEqual(await edited.build<string[], string[]>().call([], {} as CallContext), ['z', 'b', 'y']);
  assert.deepEqual(base.roles, ['a', 'b', 'transport'], 'edits return a new stack');
  assert.ok(edited.prepend(tagLayer('top')).describe().startsWith('1. top'));
});

test('bad edits are typed errors', () => {
  const stack = new Stack([tagLayer('a'), terminal]);
  assert.throws(() => stack.remove('nope'), InvalidArgumentError);
  assert.throws(() => stack.remove('transport'), /terminal/);
  assert.throws(() => stack.insertBefore('a', tagLayer('a')), /duplicate stack role 'a'/);
  assert.throws(() => new Stack([]).build(), InvalidArgumentError);
});
