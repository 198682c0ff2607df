#!/usr/bin/python3
"""Apache Thrift (Python) server for RichService: the reference peer our Thrift client is proven
against. Semantics are written down in test/peers/README.md; keep them identical everywhere.

Usage: py_rich_server.py --gen-dir DIR [--port 0] [--protocol binary|compact]
                         [--transport framed|buffered]
Prints `READY <port>` on stdout once listening (port 0 picks a free port).
"""
import argparse
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--gen-dir', required=True, help='output of `thrift --gen py` for rich.thrift')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--protocol', choices=['binary', 'compact'], default='binary')
    p.add_argument('--transport', choices=['framed', 'buffered'], default='framed')
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
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


def main():
    transport = TSocket.TServerSocket(host=args.host, port=args.port)
    tfactory = (TTransport.TFramedTransportFactory() if args.transport == 'framed'
                else TTransport.TBufferedTransportFactory())
    pfactory = (TCompactProtocol.TCompactProtocolFactory() if args.protocol == 'compact'
                else TBinaryProtocol.TBinaryProtocolFactory())
    server = TServer.TThreadedServer(RichService.Processor(Handler()), transport, tfactory, pfactory,
                                     daemon=True)
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
