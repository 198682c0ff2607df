#!/usr/bin/python3
"""Apache Thrift (Python) client for RichService: the proof that a server speaks correct Thrift.

Calls every method with hostile-but-legal values and checks every answer strictly. Prints one JSON
line per check, {"check", "ok", "detail"}, then {"done": true, "passed", "failed", "skipped"};
exits 0 only when nothing failed. Semantics it expects: test/peers/README.md.

Usage: py_rich_client.py --gen-dir DIR --port N [--host 127.0.0.1] [--protocol binary|compact]
                         [--transport framed|buffered|header] [--profile full|apache-node]
                         [--multiplexed NAME] [--header KEY=VALUE ...]
                         [--tls-ca PEM [--tls-cert PEM --tls-key PEM]]
--multiplexed NAME wraps the protocol in TMultiplexedProtocol (calls go as NAME:method; replies
must still name the plain method). --transport header speaks THeader (THeaderProtocol, --protocol
inside it); each --header is sent as an info header with every call.
--profile apache-node skips or relaxes the checks the Apache npm server cannot represent (listed in
the README); skipped checks are reported and never counted as passed.
"""
import argparse
import json
import math
import struct
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--gen-dir', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--protocol', choices=['binary', 'compact'], default='binary')
    p.add_argument('--transport', choices=['framed', 'buffered', 'header'], default='framed')
    # TLS (Apache's TSSLSocket / TSSLServerSocket): PEM files. --tls-ca turns TLS on (the
    # server is checked against it); --tls-cert/--tls-key add a client certificate (mTLS).
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    p.add_argument('--tls-ca')
    p.add_argument('--profile', choices=['full', 'apache-node'], default='full')
    p.add_argument('--timeout-ms', type=int, default=10000)
    p.add_argument('--multiplexed', metavar='NAME')
    p.add_argument('--header', action='append', default=[], metavar='KEY=VALUE')
    p.add_argument('--only', help='run only the checks whose name starts with this')
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

from thrift.Thrift import TApplicationException, TMessageType, TType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol  # noqa: E402
from thrift.protocol.THeaderProtocol import THeaderProtocol  # noqa: E402
from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from scales_test.rich import RichService  # noqa: E402
from scales_test.rich import ttypes as R  # noqa: E402
from scales_test.shared import ttypes as S  # noqa: E402

R.Point.__hash__ = lambda self: hash((self.x, self.y))  # generated structs are unhashable map keys


def no_defaults(cls):
    """Python fills IDL defaults in constructors, on send AND on decode. Clearing them makes the
    client send absent fields and see exactly what the server put on the wire."""
    cls.__init__.__defaults__ = tuple(None for _ in cls.__init__.__defaults__)


for _cls in (R.AllTypes, S.Audit, RichService.echoWithDefault_args):
    no_defaults(_cls)

NODE = args.profile == 'apache-node'
I64_MAX, I64_MIN = 2**63 - 1, -2**63
P = R.Point

# ---------------------------------------------------------------- canonical form for comparisons


def key(c):
    return json.dumps(c, sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def canon(v):
    """Type-tagged, order-independent form: doubles by IEEE bits (NaN, -0.0), sets/maps sorted."""
    if v is None:
        return None
    if isinstance(v, bool):
        return ['bool', v]
    if isinstance(v, int):
        return ['int', str(v)]
    if isinstance(v, float):
        return ['d', struct.pack('>d', v).hex()]
    if isinstance(v, str):
        return ['s', v]
    if isinstance(v, (bytes, bytearray)):
        return ['b', bytes(v).hex()]
    if isinstance(v, list):
        return ['list', [canon(e) for e in v]]
    if isinstance(v, (set, frozenset)):
        return ['set', sorted((canon(e) for e in v), key=key)]
    if isinstance(v, dict):
        return ['map', sorted(([canon(k), canon(e)] for k, e in v.items()), key=key)]
    if hasattr(v, 'thrift_spec'):
        out = {'$': type(v).__name__}
        for spec in v.thrift_spec:
            if spec is None:
                continue
            out[spec[2]] = canon(getattr(v, spec[2], None))
        return out
    raise TypeError('cannot canon %r' % (v,))


def short(v, limit=300):
    s = v if isinstance(v, str) else key(v)
    return s if len(s) <= limit else s[:limit] + '...(%d chars)' % len(s)


def first_diff(a, b, path='$'):
    """Where two canonical forms first differ, for a readable failure detail."""
    if type(a) is not type(b):
        return '%s: %s != %s' % (path, short(a, 120), short(b, 120))
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_diff(a.get(k), b.get(k), path + '.' + k)
    if isinstance(a, list):
        if len(a) != len(b):
            return '%s: length %d != %d' % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_diff(x, y, '%s[%d]' % (path, i))
    return '%s: %s != %s' % (path, short(a, 120), short(b, 120))


# ---------------------------------------------------------------- connection with seqid checking


class Conn:
    """One client connection. Every call gets a distinct seqid (Python's client always sends 0);
    the reply's method name, type and seqid are recorded so each check also proves the server
    echoes the seqid and name it was sent."""

    def __init__(self):
        self._open()

    def reset(self):
        """A failed check may leave unread bytes or a dead socket: start the next one clean so one
        failure does not cascade into all the checks after it."""
        try:
            self.close()
        except Exception:
            pass
        self._open()

    def _open(self):
        if args.tls_ca:
            import ssl
            from thrift.transport import TSSLSocket
            sock = TSSLSocket.TSSLSocket(args.host, args.port, ca_certs=args.tls_ca, cert_reqs=ssl.CERT_REQUIRED,
                                         certfile=args.tls_cert, keyfile=args.tls_key)
        else:
            sock = TSocket.TSocket(args.host, args.port)
        sock.setTimeout(args.timeout_ms)
        if args.transport == 'header':
            sub = THeaderSubprotocolID.COMPACT if args.protocol == 'compact' else THeaderSubprotocolID.BINARY
            proto = THeaderProtocol(sock, (THeaderClientType.HEADERS,), sub)
            self.trans = proto.trans
            headers = [h.split('=', 1) for h in args.header]
            original_flush = self.trans.flush

            def flush_with_headers():  # THeader clears its write headers on every flush
                for k, v in headers:
                    self.trans.set_header(k.encode(), v.encode())
                original_flush()
            self.trans.flush = flush_with_headers
        else:
            self.trans = (TTransport.TFramedTransport(sock) if args.transport == 'framed'
                          else TTransport.TBufferedTransport(sock))
            proto = (TCompactProtocol.TCompactProtocol(self.trans) if args.protocol == 'compact'
                     else TBinaryProtocol.TBinaryProtocol(self.trans))
        if args.multiplexed:
            proto = TMultiplexedProtocol(proto, args.multiplexed)
        self.proto = proto
        self.client = RichService.Client(proto)
        self.last_reply = None
        original = proto.readMessageBegin

        def read_message_begin():
            header = original()
            self.last_reply = header
            return header
        proto.readMessageBegin = read_message_begin
        self.trans.open()

    def close(self):
        self.trans.close()


SEQIDS = [0x7fffffff, 0, 1, 0x10000, 0x7ffffffe]
_seq_counter = [0]


def next_seqid():
    i = _seq_counter[0]
    _seq_counter[0] += 1
    return SEQIDS[i] if i < len(SEQIDS) else (i * 104729 + 12345) % 0x7fffffff


def call(conn, method, *call_args):
    """Calls method; returns ('ok', value) or ('raised', exception) after checking the reply header."""
    seqid = next_seqid()
    conn.client._seqid = seqid
    conn.last_reply = None
    try:
        outcome = ('ok', getattr(conn.client, method)(*call_args))
    except (TTransport.TTransportException, EOFError, OSError):
        raise
    except Exception as e:  # declared exceptions and TApplicationException are outcomes
        outcome = ('raised', e)
    header = conn.last_reply
    if header is None:
        raise AssertionError('no reply message read for %s' % method)
    name, mtype, rseqid = header
    if name != method:
        raise AssertionError('reply name %r, expected %r' % (name, method))
    if rseqid != seqid:
        raise AssertionError('reply seqid %r, expected %r' % (rseqid, seqid))
    expected_type = TMessageType.EXCEPTION if isinstance(outcome[1], TApplicationException) else TMessageType.REPLY
    if mtype != expected_type:
        raise AssertionError('reply message type %r, expected %r (client saw %s: %s)'
                             % (mtype, expected_type, outcome[0], short(repr(outcome[1]))))
    return outcome


# ---------------------------------------------------------------- checks

results = {'passed': 0, 'failed': 0, 'skipped': 0}


def emit(line):
    sys.stdout.write(json.dumps(line, ensure_ascii=True) + '\n')
    sys.stdout.flush()


MAIN = []  # the main connection, reset after a failed check


def check(name, fn):
    if args.only and not name.startswith(args.only):
        return
    try:
        ok, detail = fn()
    except Exception as e:  # a broken connection or assertion is a failed check, with its reason
        ok, detail = False, '%s: %s' % (type(e).__name__, e)
    results['passed' if ok else 'failed'] += 1
    emit({'check': name, 'ok': bool(ok), 'detail': detail})
    if not ok and MAIN:
        try:
            MAIN[0].reset()
        except Exception as e:
            emit({'check': name + ' (reconnect)', 'ok': False, 'detail': repr(e)})
            results['failed'] += 1


def skip(name, reason):
    results['skipped'] += 1
    emit({'check': name, 'ok': True, 'skipped': reason})


def returns(conn, method, call_args, expected):
    """Check that method(*call_args) returns exactly `expected` (canonical comparison)."""
    def run():
        kind, value = call(conn, method, *call_args)
        if kind != 'ok':
            return False, 'raised %s: %s' % (type(value).__name__, value)
        a, b = canon(value), canon(expected)
        return a == b, 'ok' if a == b else first_diff(a, b)
    return run


def raises(conn, method, call_args, exc_type, fields):
    def run():
        kind, value = call(conn, method, *call_args)
        if kind != 'raised':
            return False, 'returned %s, expected %s' % (short(canon(value)), exc_type.__name__)
        if type(value) is not exc_type:
            return False, 'raised %s (%s), expected %s' % (type(value).__name__, value, exc_type.__name__)
        got = {k: getattr(value, k, None) for k in fields}
        return canon(got) == canon(fields), key(canon(got))
    return run


def rich_all_types():
    tree = R.Node(label='root', children=[R.Node(label='leaf-%d' % i, children=[]) for i in range(3)])
    chain = R.Node(label='d19', children=[])
    for d in range(18, -1, -1):  # a 20-deep chain: recursion, not just breadth
        chain = R.Node(label='d%d' % d, children=[chain])
    tree.children.append(chain)
    weights = {'nan': float('nan'), 'inf': float('inf'), '-inf': float('-inf'), 'tiny': 5e-324,
               'max': 1.7976931348623157e308, '': 0.1}
    if not NODE:
        weights['negzero'] = -0.0
    return R.AllTypes(
        aBool=True, aByte=-128, anI16=-32768, anI32=2147483647, anI64=I64_MIN,
        aDouble=float('nan'), aString='astral 😀𝄞 ✓ é \x00 end', aBinary=bytes(range(256)),
        priority=R.Priority.HIGH, note='', id='rich-ü',
        strings=['', 'a', 'ß' * 100, '😀' * 50], longs={I64_MIN, I64_MAX, 0, -1, 2**53 + 1},
        weights=weights, matrix=[[], [0], [-1, 2147483647, -2147483648], list(range(40))],
        pointNames={} if NODE else {P(x=0, y=0): 'origin', P(x=-1, y=2147483647): 'far', P(x=3, y=4): ''},
        pointSet={P(x=1, y=1), P(x=-2147483648, y=0)},
        deep={-1: {'': [], 'pts': [P(x=1, y=2), P(x=3, y=4)]}, 2147483647: {}},
        audit=S.Audit(createdAt=I64_MAX, createdBy='ci'),
        ints=[0, -1, 1], statuses={'all': [1, 2, 10], 'none': []},
        blobs=[b'', bytes(range(256)), b'\x00' * 10],
        withDefault=-42, strDefault='', listDefault=[], tree=tree)


def main():
    conn = Conn()
    MAIN.append(conn)
    try:
        run_checks(conn)
    finally:
        conn.close()
    emit({'done': True, 'passed': results['passed'], 'failed': results['failed'],
          'skipped': results['skipped']})
    return 0 if results['failed'] == 0 else 1


def run_checks(c):
    check('ping', returns(c, 'ping', (), 'pong'))
    check('version', returns(c, 'version', (), 7))

    for name, a, b, want in [
        ('small', 1, 2, 3), ('negatives', -1, -1, -2), ('max+0', I64_MAX, 0, I64_MAX),
        ('min+0', I64_MIN, 0, I64_MIN), ('max+1 wraps', I64_MAX, 1, I64_MIN),
        ('min-1 wraps', I64_MIN, -1, I64_MAX), ('max+min', I64_MAX, I64_MIN, -1),
        ('2^53+1 exact', 2**53 + 1, 0, 2**53 + 1), ('2^32+2^32', 2**32, 2**32, 2**33),
        ('-2^53-3 exact', -2**53 - 2, -1, -2**53 - 3),
    ]:
        check('addI64 ' + name, returns(c, 'addI64', (a, b), want))

    for name, d in [('0.0', 0.0), ('-0.0', -0.0), ('NaN', float('nan')), ('inf', float('inf')),
                    ('-inf', float('-inf')), ('min subnormal', 5e-324), ('max', 1.7976931348623157e308),
                    ('0.1', 0.1), ('-1.5', -1.5), ('pi', math.pi), ('2^53+2', float(2**53 + 2))]:
        if NODE and name == '-0.0':
            skip('echoDouble -0.0', 'npm thrift writeDouble drops the sign of -0.0')
            continue
        check('echoDouble ' + name, returns(c, 'echoDouble', (d,), d))

    for name, s in [('empty', ''), ('ascii', 'hello'), ('latin+bmp', 'héllo wörld ✓'),
                    ('astral', '😀𝄞🀄 \U0010FFFF'), ('nul', 'a\x00b'), ('long 100k', 'xy😀' * 25000)]:
        check('echoString ' + name, returns(c, 'echoString', (s,), s))

    for name, b in [('empty', b''), ('all 256 bytes', bytes(range(256))), ('nul', b'\x00'),
                    ('1 MiB', bytes(range(256)) * 4096)]:
        check('echoBinary ' + name, returns(c, 'echoBinary', (b,), b))

    for name, p in [('LOW', R.Priority.LOW), ('MEDIUM', R.Priority.MEDIUM), ('HIGH', R.Priority.HIGH)]:
        check('echoPriority ' + name, returns(c, 'echoPriority', (p,), p))

    shapes = [('point', R.Shape(point=P(x=-7, y=8))), ('radius', R.Shape(radius=0.25)),
              ('radius NaN', R.Shape(radius=float('nan'))), ('name', R.Shape(name='circle ✓')),
              ('name empty', R.Shape(name=''))]
    for name, s in shapes:
        check('echoShape ' + name, returns(c, 'echoShape', (s,), s))
    check('echoShapes all variants', returns(c, 'echoShapes', ([s for _, s in shapes],), [s for _, s in shapes]))
    check('echoShapes empty', returns(c, 'echoShapes', ([],), []))

    if NODE:
        skip('echoPointMap struct keys', 'npm thrift decodes map<struct,_> into a plain object ("[object Object]" keys)')
    else:
        m = {P(x=1, y=2): 'a', P(x=-1, y=-2147483648): '', P(x=0, y=0): '😀'}
        check('echoPointMap struct keys', returns(c, 'echoPointMap', (m,), m))
    check('echoPointMap empty', returns(c, 'echoPointMap', ({},), {}))

    rich = rich_all_types()
    if NODE:
        skip('echoAll rich pointNames', 'npm thrift cannot represent map<Point,_>: sent empty instead')
    check('echoAll rich', returns(c, 'echoAll', (rich,), rich))

    minimal = R.AllTypes(id='min')  # nothing else on the wire, no defaults either (see no_defaults)
    filled = R.AllTypes(id='min', priority=R.Priority.MEDIUM, withDefault=42, strDefault='dflt',
                        listDefault=[1, 2, 3])
    check('echoAll required-only gets defaults', returns(c, 'echoAll', (minimal,), filled))
    # Optional field with a default (Audit.createdBy = "system"): Apache Python/Java/JS set it in the
    # constructor, so a decoder fills it in and the echo writes it back.
    with_audit = R.AllTypes(id='audit', audit=S.Audit(createdAt=-1))
    filled_audit = R.AllTypes(id='audit', audit=S.Audit(createdAt=-1, createdBy='system'),
                              priority=R.Priority.MEDIUM, withDefault=42, strDefault='dflt',
                              listDefault=[1, 2, 3])
    check('echoAll optional default filled', returns(c, 'echoAll', (with_audit,), filled_audit))

    check('lookup value', returns(c, 'lookup', ('k ✓',), 'value:k ✓'))
    check('lookup empty key', returns(c, 'lookup', ('',), 'value:'))
    check('lookup NotFound', raises(c, 'lookup', ('missing',), R.NotFound,
                                    {'message': 'no such key', 'key': 'missing'}))
    check('lookup Invalid', raises(c, 'lookup', ('invalid',), R.Invalid,
                                   {'reason': 'bad key', 'fields': ['key']}))
    check('lookup SharedError', raises(c, 'lookup', ('shared',), S.SharedError,
                                       {'message': 'shared failure', 'code': 409}))
    check('lookup after exceptions', returns(c, 'lookup', ('again',), 'value:again'))

    check('noop', returns(c, 'noop', (), None))
    check('crash', crash_check(c))
    check('after crash', returns(c, 'ping', (), 'pong'))
    check('unknown method', unknown_method_check(c))
    check('after unknown method', returns(c, 'version', (), 7))

    check('oneway record then lastRecorded', oneway_check(c))

    check('echoWithDefault given', returns(c, 'echoWithDefault', ('abc', 5), 'abc:5'))
    check('echoWithDefault empty/negative', returns(c, 'echoWithDefault', ('', -1), ':-1'))
    check('echoWithDefault absent arg gets default', returns(c, 'echoWithDefault', (None, 3), 'fallback:3'))

    check('sleep', sleep_check(c))
    check('concurrent connections', concurrency_check())


def crash_check(c):
    def run():
        kind, e = call(c, 'crash', 'boom ✓')
        if kind != 'raised' or not isinstance(e, TApplicationException):
            return False, 'expected TApplicationException, got %s %r' % (kind, e)
        detail = {'type': e.type, 'message': e.message}
        if NODE:  # npm's processor answers UNKNOWN + the handler's message (and never writes the type)
            return e.type == TApplicationException.UNKNOWN and e.message == 'boom ✓', detail
        return e.type == TApplicationException.INTERNAL_ERROR, detail
    return run


def unknown_method_check(c):
    """A call to a method the service lacks: the reply must be TApplicationException UNKNOWN_METHOD
    under the same name and seqid, and the connection must stay usable."""
    def run():
        seqid = next_seqid()
        p = c.proto
        p.writeMessageBegin('noSuchMethod', TMessageType.CALL, seqid)
        p.writeStructBegin('noSuchMethod_args')
        p.writeFieldBegin('x', TType.I32, 1)
        p.writeI32(5)
        p.writeFieldEnd()
        p.writeFieldStop()
        p.writeStructEnd()
        p.writeMessageEnd()
        p.trans.flush()
        name, mtype, rseqid = p.readMessageBegin()
        if mtype != TMessageType.EXCEPTION:
            return False, 'message type %d, expected EXCEPTION' % mtype
        x = TApplicationException()
        x.read(p)
        p.readMessageEnd()
        detail = {'name': name, 'seqid': rseqid, 'type': x.type, 'message': x.message}
        # npm's TApplicationException.write never writes the type field (it writes this.code), so
        # everything it sends decodes as UNKNOWN; the message still names the method.
        want = TApplicationException.UNKNOWN if NODE else TApplicationException.UNKNOWN_METHOD
        ok = name == 'noSuchMethod' and rseqid == seqid and x.type == want
        if NODE:
            ok = ok and x.message == 'Unknown function noSuchMethod'
        return ok, detail
    return run


def oneway_check(c):
    def run():
        event = 'evt-%d-😀' % time.time_ns()
        seqid = next_seqid()
        c.client._seqid = seqid
        c.client.record(event)  # oneway: no reply to read
        kind, value = call(c, 'lastRecorded')
        return kind == 'ok' and value == event, {'sent': event, 'got': short(repr(value))}
    return run


def sleep_check(c):
    def run():
        t0 = time.monotonic()
        kind, value = call(c, 'sleep', 60, 'tag-✓')
        ms = (time.monotonic() - t0) * 1000
        return kind == 'ok' and value == 'tag-✓' and ms >= 55, {'got': repr(value), 'ms': round(ms, 1)}
    return run


def concurrency_check():
    """Two connections sleeping 300 ms each must overlap: the server serves connections concurrently."""
    def run():
        conns = [Conn(), Conn()]
        out = [None, None]

        def worker(i):
            try:
                out[i] = call(conns[i], 'sleep', 300, 'c%d' % i)
            except Exception as e:
                out[i] = ('error', repr(e))
        try:
            t0 = time.monotonic()
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ms = (time.monotonic() - t0) * 1000
        finally:
            for k in conns:
                k.close()
        ok = out == [('ok', 'c0'), ('ok', 'c1')] and ms < 550
        return ok, {'ms': round(ms, 1), 'results': [repr(o) for o in out]}
    return run


if __name__ == '__main__':
    sys.exit(main())
