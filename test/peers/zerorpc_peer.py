#!/usr/bin/python3
"""A scripted ZeroRPC v3 peer from Debian's python3-zmq + python3-msgpack, behaving as
zerorpc-python 0.6.3 does on the wire (see ../shared/protocols/zerorpc.md): Python-shaped message
ids (32 hex digits as bin), heartbeats per open channel, credit as BufferedChannel grants it.
The zerorpc package itself is not installable here (it is not packaged by Debian).

  server --bind ADDR [--heartbeat S] [--log FILE]   serves Calc; prints READY <endpoint>
  client --connect ADDR [--heartbeat S]              runs the checks, one JSON line each, then done
  echo-server --bind ADDR                            minimal OK [args[0]] echo (benchmarks)
  echo-client --connect ADDR --seconds S --inflight N   calls/s of echo, pipelined
"""
import argparse, json, os, sys, time
import msgpack, zmq

def pack(v):
    return msgpack.packb(v, use_bin_type=True)

def unpack(b):
    return msgpack.unpackb(b, raw=False, strict_map_key=True)

class Ids:
    def __init__(self):
        self.fixed = os.urandom(12).hex()
        self.n = 0
    def next(self):
        self.n += 1
        return ('%08x' % (self.n & 0xffffffff) + self.fixed).encode()

ids = Ids()

def header(response_to=None):
    h = {'message_id': ids.next(), 'v': 3}
    if response_to is not None:
        h['response_to'] = response_to
    return h

# ---- server ---------------------------------------------------------------------------------

class Channel:
    def __init__(self, ident, cid, now):
        self.ident, self.cid = ident, cid
        self.last_remote = now
        self.next_hb = now
        self.credit = 1
        self.gen = None          # a stream being sent
        self.done_at = None      # slow(): when to answer

def serve(args):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(args.bind)
    log = open(args.log, 'a') if args.log else None
    hb = args.heartbeat
    channels = {}
    print('READY', sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)

    def send(ch, name, a):
        sock.send_multipart([ch.ident, b'', pack([header(ch.cid), name, a])])

    def final(ch, name, a):
        send(ch, name, a)
        channels.pop((ch.ident, ch.cid), None)

    def record(ev, ch_known):
        if log:
            h = ev[0]
            log.write(json.dumps({'t': time.time(), 'name': ev[1], 'args': ev[2],
                                  'id_type': type(h.get('message_id')).__name__, 'channel': ch_known}, default=repr) + '\n')
            log.flush()

    while True:
        now = time.time()
        timeout = 50
        if sock.poll(timeout):
            frames = sock.recv_multipart()
            try:
                ev = unpack(frames[-1])
                h, name, a = ev[0], ev[1], ev[2]
            except Exception as e:
                print('bad event:', e, file=sys.stderr, flush=True)
                continue
            ident = frames[0]
            rt = h.get('response_to')
            if rt is not None:
                ch = channels.get((ident, rt))
                record(ev, ch is not None)
                if ch is None:
                    continue
                ch.last_remote = now
                if name == '_zpc_more':
                    ch.credit += int(a[0])
                continue
            record(ev, False)
            cid = h['message_id']
            ch = Channel(ident, cid, now)
            channels[(ident, cid)] = ch
            try:
                if name == 'add':
                    final(ch, 'OK', [a[0] + (a[1] if len(a) > 1 else 2)])
                elif name == 'echo':
                    final(ch, 'OK', [a[0]])
                elif name == 'boom':
                    final(ch, 'ERR', ['ValueError', 'bad thing', 'Traceback (most recent call last):\n  (remote)\nValueError: bad thing\n'])
                elif name == 'count':
                    ch.gen = iter(range(a[0]))
                    ch.pending = None
                elif name == 'slow':
                    ch.done_at = now + a[0]
                elif name == '_zerorpc_ping':
                    final(ch, 'OK', [['pong', 'Calc']])
                elif name == '_zerorpc_name':
                    final(ch, 'OK', ['Calc'])
                elif name == '_zerorpc_list':
                    final(ch, 'OK', [['add', 'boom', 'count', 'echo', 'slow']])
                else:
                    final(ch, 'ERR', ['NameError', name, 'Traceback (most recent call last):\nNameError: %s\n' % name])
            except Exception as e:
                final(ch, 'ERR', [type(e).__name__, str(e), ''])
        now = time.time()
        for ch in list(channels.values()):
            if ch.gen is not None:
                # Each STREAM / STREAM_DONE uses one credit; without credit the sender waits.
                while ch.credit > 0:
                    ch.credit -= 1
                    try:
                        item = next(ch.gen)
                    except StopIteration:
                        final(ch, 'STREAM_DONE', None)
                        break
                    send(ch, 'STREAM', item)
            elif ch.done_at is not None and now >= ch.done_at:
                final(ch, 'OK', ['done'])
                continue
            if (ch.ident, ch.cid) not in channels:
                continue
            if hb > 0 and now >= ch.next_hb + hb:
                ch.next_hb = now
                if now > ch.last_remote + 2 * hb:
                    print('lost remote', flush=True)
                    channels.pop((ch.ident, ch.cid), None)   # cancel the task, send nothing
                    continue
                send(ch, '_zpc_hb', [0])

# ---- client ---------------------------------------------------------------------------------

class Client:
    def __init__(self, addr, hb, timeout=10):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(addr)
        self.hb, self.timeout = hb, timeout
        self.grants = []

    def send(self, h, name, a):
        self.sock.send_multipart([b'', pack([h, name, a])])

    def recv_on(self, cid, deadline):
        """The next event of channel cid, heartbeating it every hb seconds while waiting."""
        last_hb = time.time()
        while True:
            now = time.time()
            if deadline is not None and now > deadline:
                raise TimeoutError('timeout')
            if self.hb > 0 and now - last_hb >= self.hb:
                self.send(header(cid), '_zpc_hb', [0])
                last_hb = now
            if self.sock.poll(50):
                ev = unpack(self.sock.recv_multipart()[-1])
                if ev[0].get('response_to') != cid:
                    continue
                if ev[1] == '_zpc_hb':
                    continue
                return ev

    def call(self, name, *a):
        h = header()
        cid = h['message_id']
        self.send(h, name, list(a))
        ev = self.recv_on(cid, time.time() + self.timeout)
        if ev[1] == 'OK':
            return ev[2][0]
        if ev[1] == 'ERR':
            raise RemoteError(*ev[2])
        if ev[1] in ('STREAM', 'STREAM_DONE'):
            return self.stream(cid, ev)
        raise RuntimeError('unexpected ' + ev[1])

    def stream(self, cid, first):
        # zerorpc-python's BufferedChannel: queue 100; the first recv asks nothing, later ones
        # grant (100 - reserved) when fewer than 50 slots remain reserved.
        items, reserved, verbose, ev = [], 1, False, first
        while True:
            if verbose:
                if reserved < 50:
                    n = 100 - reserved
                    reserved += n
                    self.grants.append(n)
                    self.send(header(cid), '_zpc_more', [n])
            else:
                verbose = True
            if ev is None:
                ev = self.recv_on(cid, None)
            reserved -= 1
            if ev[1] == 'STREAM':
                items.append(ev[2])
            elif ev[1] == 'STREAM_DONE':
                return items
            elif ev[1] == 'ERR':
                raise RemoteError(*ev[2])
            ev = None

class RemoteError(Exception):
    def __init__(self, name, msg, tb=''):
        super().__init__(name, msg, tb)
        self.name, self.msg, self.tb = name, msg, tb

def client(args):
    c = Client(args.connect, args.heartbeat)
    results = []
    def check(name, fn, expect):
        try:
            got = fn()
            ok = expect(got)
            detail = repr(got)[:300]
        except Exception as e:
            got, ok, detail = None, False, 'raised %r' % (e,)
        results.append(ok)
        print(json.dumps({'check': name, 'ok': bool(ok), 'detail': detail}), flush=True)

    def raises(fn, name, msg=None):
        def run():
            try:
                fn()
            except RemoteError as e:
                return (e.name, e.msg)
            return 'no error'
        return run, lambda got: got[0] == name and (msg is None or got[1] == msg)

    check('add', lambda: c.call('add', 1, 2), lambda r: r == 3 and type(r) is int)
    check('add default', lambda: c.call('add', 40), lambda r: r == 42)
    values = {'s': 'h\u00e9llo \u2713', 'b': b'\x00\xff\x10', 'i': [0, -1, 127, 128, 255, 65535, 2**31, 2**40, -2**63, 2**64 - 1], 'f': 1.5, 't': True, 'n': None, 'l': [1, [2, [3]]]}
    check('types round trip', lambda: c.call('echo', values), lambda r: r == values and type(r['b']) is bytes and type(r['s']) is str and type(r['f']) is float)
    check('remote error', *raises(lambda: c.call('boom'), 'ValueError', 'bad thing'))
    check('unknown method', *raises(lambda: c.call('nosuch'), 'NameError', 'nosuch'))
    check('wrong arity', *raises(lambda: c.call('add'), 'TypeError', "Calc.add() missing 1 required positional argument: 'a'"))
    check('empty stream', lambda: c.call('count', 0), lambda r: r == [])
    check('one-item stream', lambda: c.call('count', 1), lambda r: r == [0])
    c.grants = []
    check('stream of 1000', lambda: c.call('count', 1000), lambda r: r == list(range(1000)))
    check('credit granted as python', lambda: c.grants, lambda g: g[0] == 100 and all(x == 51 for x in g[1:]) and len(g) >= 18)
    check('ping', lambda: c.call('_zerorpc_ping'), lambda r: r == ['pong', 'Calc'])
    check('name', lambda: c.call('_zerorpc_name'), lambda r: r == 'Calc')
    check('list', lambda: c.call('_zerorpc_list'), lambda r: r == sorted(r) and {'add', 'boom', 'count', 'echo', 'slow'} <= set(r) and not any(m.startswith('_') for m in r))
    check('help', lambda: c.call('_zerorpc_help', 'add'), lambda r: r == 'Add two numbers.')
    check('args', lambda: c.call('_zerorpc_args', 'add'), lambda r: r[0][-2:] == ['a', 'b'] and r[3] == [2])
    check('help of unknown', *raises(lambda: c.call('_zerorpc_help', 'nosuch'), 'KeyError', "'nosuch'"))
    def inspect_ok(r):
        add = r['methods']['add']
        args = [a for a in add['args'] if a['name'] != 'self']
        return r['name'] == 'Calc' and args == [{'name': 'a'}, {'name': 'b', 'default': 2}] and add['doc'] == 'Add two numbers.'
    check('inspect', lambda: c.call('_zerorpc_inspect'), inspect_ok)
    if args.slow > 0:
        check('slow call kept alive by heartbeats', lambda: c.call('slow', args.slow), lambda r: r == 'done')
    passed = sum(1 for r in results if r)
    print(json.dumps({'done': True, 'passed': passed, 'failed': len(results) - passed}), flush=True)
    sys.exit(0 if passed == len(results) else 1)

# ---- benchmark peers --------------------------------------------------------------------------

def echo_server(args):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(args.bind)
    print('READY', sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    while True:
        frames = sock.recv_multipart()
        ev = unpack(frames[-1])
        out = [header(ev[0]['message_id']), 'OK', [ev[2][0] if ev[2] else None]]
        sock.send_multipart(frames[:-1] + [pack(out)])

def echo_client(args):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.connect)
    payload = {'id': 42, 'name': 'Ada', 'tags': ['a', 'b'], 'score': 1.5}
    def send():
        sock.send_multipart([b'', pack([header(), 'echo', [payload]])])
    end = time.time() + args.seconds
    for _ in range(args.inflight):
        send()
    done = 0
    while time.time() < end:
        ev = unpack(sock.recv_multipart()[-1])
        assert ev[1] == 'OK' and ev[2][0] == payload
        done += 1
        send()
    print(json.dumps({'calls': done, 'seconds': args.seconds}), flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['server', 'client', 'echo-server', 'echo-client'])
    p.add_argument('--bind', default='tcp://127.0.0.1:*')
    p.add_argument('--connect')
    p.add_argument('--heartbeat', type=float, default=5.0)
    p.add_argument('--slow', type=float, default=0)
    p.add_argument('--log')
    p.add_argument('--seconds', type=float, default=3)
    p.add_argument('--inflight', type=int, default=100)
    a = p.parse_args()
    {'server': serve, 'client': client, 'echo-server': echo_server, 'echo-client': echo_client}[a.mode](a)
