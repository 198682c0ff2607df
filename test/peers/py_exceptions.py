#!/usr/bin/python3
"""Apache Thrift (Python) peer for exceptions.thrift: proves which exception fields travel.

Server: `py_exceptions.py server --gen-dir DIR [--port 0]` prints `READY <port>`; `fail(which, given)`
raises `Xception(errorCode=1002[, message='boom'])` for which='xception', `Leaky(code=7[, name='n',
stack='s'])` for which='leaky', and a plain RuntimeError for which='crash' (Apache answers
INTERNAL_ERROR); the bracketed fields only when `given`.

Client: `py_exceptions.py client --gen-dir DIR --port P` calls fail() for each case and prints one
JSON line per case: {"case", "kind": "raised"|"returned"|"app_error", "type", "fields"}; a field
that is None (unset on the wire) is printed as null.
"""
import argparse
import json
import sys


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['server', 'client'])
    p.add_argument('--gen-dir', required=True, help='output of `thrift --gen py` for exceptions.thrift')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.Thrift import TApplicationException  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from scales_exc import Raiser  # noqa: E402
from scales_exc.ttypes import Leaky, Xception  # noqa: E402


class Handler:
    def fail(self, which, given):
        if which == 'xception':
            raise Xception(errorCode=1002, message='boom' if given else None)
        if which == 'leaky':
            raise Leaky(code=7, name='n' if given else None, stack='s' if given else None)
        if which == 'crash':
            raise RuntimeError('secret db password is hunter2')


def serve():
    sock = TSocket.TServerSocket(host=args.host, port=args.port)
    server = TServer.TThreadedServer(Raiser.Processor(Handler()), sock, TTransport.TFramedTransportFactory(),
                                     TBinaryProtocol.TBinaryProtocolFactory())
    server.daemon = True
    sock.listen()  # before READY, so the port is reachable the moment we say so
    port = sock.handle.getsockname()[1]
    sock.listen = lambda: None  # serve() calls listen() again
    print('READY %d' % port, flush=True)
    server.serve()


def fields(e, names):
    return {n: getattr(e, n) for n in names}


def call():
    sock = TSocket.TSocket(args.host, args.port)
    sock.setTimeout(10000)
    transport = TTransport.TFramedTransport(sock)
    client = Raiser.Client(TBinaryProtocol.TBinaryProtocol(transport))
    transport.open()
    for which in ('xception', 'leaky', 'crash'):
        for given in (False, True):
            out = {'case': '%s/%s' % (which, 'set' if given else 'unset')}
            try:
                client.fail(which, given)
                out['kind'] = 'returned'
            except Xception as e:
                out.update(kind='raised', type='Xception', fields=fields(e, ['errorCode', 'message']))
            except Leaky as e:
                out.update(kind='raised', type='Leaky', fields=fields(e, ['name', 'stack', 'code']))
            except TApplicationException as e:
                out.update(kind='app_error', type=e.type, fields={'message': e.message})
            print(json.dumps(out), flush=True)
    transport.close()


if args.mode == 'server':
    serve()
else:
    call()
