#!/usr/bin/python3
"""Apache Thrift (Python) server for RichService: the reference peer our Thrift client is proven
against. Semantics are written down in test/peers/README.md; keep them identical everywhere.

Usage: py_rich_server.py --gen-dir DIR [--port 0] [--protocol binary|compact]
                         [--transport framed|buffered|header] [--multiplexed NAME [--default]]
                         [--echo-headers]
                         [--tls-cert PEM --tls-key PEM [--tls-ca PEM]]
Prints `READY <port>` on stdout once listening (port 0 picks a free port).
--multiplexed NAME serves RichService through a TMultiplexedProcessor under NAME (--default also
registers it as the default processor, for unprefixed calls). --transport header speaks THeader
(THeaderProtocolFactory; --protocol is then what it answers plain clients in). --echo-headers
(THeader only): echoString("__headers__") returns the info headers of that call as JSON.
"""
import argparse
import json
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--gen-dir', required=True, help='output of `thrift --gen py` for rich.thrift')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--protocol', choices=['binary', 'compact'], default='binary')
    p.add_argument('--transport', choices=['framed', 'buffered', 'header'], default='framed')
    p.add_argument('--multiplexed', metavar='NAME')
    p.add_argument('--default', action='store_true')
    p.add_argument('--echo-headers', action='store_true')
    # TLS (Apache's TSSLSocket / TSSLServerSocket): PEM files. With --tls-ca, client
    # certificates are required and checked against it (mTLS).
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    p.add_argument('--tls-ca')
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

from thrift.TMultiplexedProcessor import TMultiplexedProcessor  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.protocol.THeaderProtocol import THeaderProtocolFactory  # noqa: E402
from thrift.transport.THeaderTransport import THeaderSubprotocolID  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from scales_test.rich import RichService  # noqa: E402
from scales_test.rich import ttypes as R  # noqa: E402
from scales_test.shared import ttypes as S  # noqa: E402

# Generated structs define __eq__ but no __hash__, so map<Point, _> / set<Point> cannot be decoded.
R.Point.__hash__ = lambda self: hash((self.x, self.y))


def wrap_i64(v):
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= (1 << 63) else v


class Handler:
    def __init__(self):
        self._lock = threading.Lock()
        self._recorded = ''

    def ping(self):
        return 'pong'

    def version(self):
        return 7

    def echoAll(self, value):
        return value

    def echoShape(self, shape):
        return shape

    def addI64(self, a, b):
        return wrap_i64(a + b)

    def echoDouble(self, d):
        return d

    def echoString(self, s):
        if args.echo_headers and s == '__headers__':
            got = getattr(CALL, 'headers', {}) or {}
            return json.dumps({k.decode('utf-8', 'replace'): v.decode('utf-8', 'replace') for k, v in got.items()},
                              sort_keys=True)
        return s

    def echoBinary(self, b):
        return b

    def echoPointMap(self, m):
        return m

    def echoShapes(self, shapes):
        return shapes

    def echoPriority(self, p):
        return p

    def lookup(self, key):
        if key == 'missing':
            raise R.NotFound(message='no such key', key=key)
        if key == 'invalid':
            raise R.Invalid(reason='bad key', fields=['key'])
        if key == 'shared':
            raise S.SharedError(message='shared failure', code=409)
        return 'value:' + key

    def noop(self):
        return None

    def crash(self, message):
        # Not a declared exception: the generated processor answers
        # TApplicationException(INTERNAL_ERROR, 'Internal error') and drops our message.
        raise RuntimeError(message)

    def record(self, event):
        with self._lock:
            self._recorded = event

    def lastRecorded(self):
        with self._lock:
            return self._recorded

    def sleep(self, ms, tag):
        time.sleep(ms / 1000.0)
        return tag

    def echoWithDefault(self, s, n):
        return '%s:%s' % (s, n)


CALL = threading.local()  # the info headers of the call being served (--echo-headers)


class HeaderRecordingProcessor(RichService.Processor):
    """Records each THeader call's info headers for the handler (thread-local: a thread per connection)."""

    def process(self, iprot, oprot):
        if not getattr(iprot, '_records_headers', False):
            original = iprot.readMessageBegin

            def read_message_begin():
                header = original()
                CALL.headers = dict(iprot.get_headers())
                return header
            iprot.readMessageBegin = read_message_begin
            iprot._records_headers = True
        return super().process(iprot, oprot)


def main():
    if args.tls_cert:
        import ssl
        from thrift.transport import TSSLSocket
        transport = TSSLSocket.TSSLServerSocket(
            host=args.host, port=args.port, certfile=args.tls_cert, keyfile=args.tls_key,
            ca_certs=args.tls_ca, cert_reqs=ssl.CERT_REQUIRED if args.tls_ca else ssl.CERT_NONE)
    else:
        transport = TSocket.TServerSocket(host=args.host, port=args.port)
    if args.transport == 'header':
        tfactory = TTransport.TTransportFactoryBase()
        sub = (THeaderSubprotocolID.COMPACT if args.protocol == 'compact' else THeaderSubprotocolID.BINARY)
        pfactory = THeaderProtocolFactory(default_protocol=sub)
    else:
        tfactory = (TTransport.TFramedTransportFactory() if args.transport == 'framed'
                    else TTransport.TBufferedTransportFactory())
        pfactory = (TCompactProtocol.TCompactProtocolFactory() if args.protocol == 'compact'
                    else TBinaryProtocol.TBinaryProtocolFactory())
    handler = Handler()
    processor = HeaderRecordingProcessor(handler) if args.echo_headers else RichService.Processor(handler)
    if args.multiplexed:
        multiplexed = TMultiplexedProcessor()
        multiplexed.registerProcessor(args.multiplexed, processor)
        if args.default:
            multiplexed.registerDefault(processor)
        processor = multiplexed
    server = TServer.TThreadedServer(processor, transport, tfactory, pfactory, daemon=True)
    transport.listen()  # listen before READY so the port is reachable the moment we say so
    port = transport.handle.getsockname()[1]
    transport.listen = lambda: None  # serve() calls listen() again
    print('READY %d' % port, flush=True)
    server.serve()


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
