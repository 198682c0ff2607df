#!/usr/bin/python3
"""Apache Thrift (Python) speaking Finagle's TTwitter upgrade, against a RichService server.

python3-thrift 0.17 has no Finagle protocol, so this is what one would look like: the upgrade call
`__can__finagle__trace__v3__` (fall back to plain on UNKNOWN_METHOD), then a protocol that writes a
RequestHeader before every message and reads a ResponseHeader before every reply. The header is
written field by field with the library's own protocol calls, from Finagle's tracing.thrift:

  struct RequestHeader { 1: i64 trace_id, 2: i64 span_id, 3: optional i64 parent_span_id,
    5: optional bool sampled, 6: optional ClientId client_id, 7: optional i64 flags,
    8: list<RequestContext> contexts, 9: optional string dest,
    10: optional list<Delegation> delegations, 11: optional i64 trace_id_high }
  struct ClientId { 1: string name }   struct RequestContext { 1: binary key, 2: binary value }

The server's `echoString("whoami")` must answer a JSON view of what its handler saw (trace ids,
client id, deadline, retries, forwarded contexts). Prints one JSON line per check
{"check", "ok", "detail"}, then {"done": true, "passed", "failed", "skipped"}; exits 0 only when
nothing failed.

Usage: py_ttwitter_client.py --gen-dir DIR --port N [--host 127.0.0.1] [--protocol binary|compact]
"""
import argparse
import json
import struct
import sys
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--gen-dir', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--protocol', choices=['binary', 'compact'], default='binary')
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

from thrift.Thrift import TApplicationException, TMessageType, TType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from scales_test.rich import RichService  # noqa: E402
from scales_test.rich import ttypes as R  # noqa: E402

UPGRADE = '__can__finagle__trace__v3__'
BASE = TBinaryProtocol.TBinaryProtocol if args.protocol == 'binary' else TCompactProtocol.TCompactProtocol

results = {'passed': 0, 'failed': 0, 'skipped': 0}


def check(name, ok, detail=None):
    results['passed' if ok else 'failed'] += 1
    print(json.dumps({'check': name, 'ok': bool(ok), 'detail': detail}), flush=True)


def write_request_header(p, h):
    p.writeStructBegin('RequestHeader')
    p.writeFieldBegin('trace_id', TType.I64, 1)
    p.writeI64(h['trace_id'])
    p.writeFieldEnd()
    p.writeFieldBegin('span_id', TType.I64, 2)
    p.writeI64(h['span_id'])
    p.writeFieldEnd()
    if 'parent_span_id' in h:
        p.writeFieldBegin('parent_span_id', TType.I64, 3)
        p.writeI64(h['parent_span_id'])
        p.writeFieldEnd()
    if 'sampled' in h:
        p.writeFieldBegin('sampled', TType.BOOL, 5)
        p.writeBool(h['sampled'])
        p.writeFieldEnd()
    if 'client_id' in h:
        p.writeFieldBegin('client_id', TType.STRUCT, 6)
        p.writeStructBegin('ClientId')
        p.writeFieldBegin('name', TType.STRING, 1)
        p.writeString(h['client_id'])
        p.writeFieldEnd()
        p.writeFieldStop()
        p.writeStructEnd()
        p.writeFieldEnd()
    if 'flags' in h:
        p.writeFieldBegin('flags', TType.I64, 7)
        p.writeI64(h['flags'])
        p.writeFieldEnd()
    contexts = h.get('contexts', [])
    p.writeFieldBegin('contexts', TType.LIST, 8)
    p.writeListBegin(TType.STRUCT, len(contexts))
    for key, value in contexts:
        p.writeStructBegin('RequestContext')
        p.writeFieldBegin('key', TType.STRING, 1)
        p.writeBinary(key)
        p.writeFieldEnd()
        p.writeFieldBegin('value', TType.STRING, 2)
        p.writeBinary(value)
        p.writeFieldEnd()
        p.writeFieldStop()
        p.writeStructEnd()
    p.writeListEnd()
    p.writeFieldEnd()
    if 'trace_id_high' in h:
        p.writeFieldBegin('trace_id_high', TType.I64, 11)
        p.writeI64(h['trace_id_high'])
        p.writeFieldEnd()
    p.writeFieldStop()
    p.writeStructEnd()


class TTwitterProtocol(BASE):
    """The chosen protocol, with TTwitter's headers around every message once upgraded."""

    upgraded = False
    header = None

    def writeMessageBegin(self, name, ttype, seqid):
        if self.upgraded:
            write_request_header(self, self.header)
        BASE.writeMessageBegin(self, name, ttype, seqid)

    def readMessageBegin(self):
        if self.upgraded:
            self.skip(TType.STRUCT)  # ResponseHeader: nothing we use
        return BASE.readMessageBegin(self)


def upgrade(p):
    """Finagle's TTwitterClientFilter handshake: True when the server took the upgrade."""
    p.writeMessageBegin(UPGRADE, TMessageType.CALL, 0)
    p.writeStructBegin('ConnectionOptions')
    p.writeFieldStop()
    p.writeStructEnd()
    p.writeMessageEnd()
    p.trans.flush()
    name, mtype, seqid = p.readMessageBegin()
    if mtype == TMessageType.EXCEPTION:
        x = TApplicationException()
        x.read(p)
        p.readMessageEnd()
        if x.type != TApplicationException.UNKNOWN_METHOD:
            raise x
        return False
    p.skip(TType.STRUCT)  # UpgradeReply
    p.readMessageEnd()
    check('upgrade reply: REPLY, same name, seqid 0', (name, mtype, seqid) == (UPGRADE, TMessageType.REPLY, 0), [name, mtype, seqid])
    return True


def connect():
    sock = TSocket.TSocket(args.host, args.port)
    sock.setTimeout(10000)
    trans = TTransport.TFramedTransport(sock)
    proto = TTwitterProtocol(trans)
    trans.open()
    return trans, proto


def u64(v):
    return v & 0xFFFFFFFFFFFFFFFF


trans, proto = connect()
ok = upgrade(proto)
check('the server takes the upgrade', ok)
proto.upgraded = ok
client = RichService.Client(proto)

now_ns = time.time_ns()
deadline_ns = now_ns + 3_000_000_000
header = {
    'trace_id': 0x1122334455667788,
    'span_id': -2,
    'parent_span_id': 0x0102030405060708,
    'sampled': True,
    'client_id': 'py-finagle',
    'flags': 1,
    'contexts': [
        (b'com.twitter.finagle.Deadline', struct.pack('>qq', now_ns, deadline_ns)),
        (b'com.twitter.finagle.Retries', struct.pack('>i', 3)),
        (b'com.example.Py', b'\x00\x01binary'),
    ],
    'trace_id_high': 77,
}
proto.header = header
seen = json.loads(client.echoString('whoami'))
want_trace = {'traceId': str(header['trace_id']), 'spanId': str(u64(header['span_id'])), 'parentId': str(header['parent_span_id']),
              'flags': str(1 | 2 | 4), 'traceIdHigh': '77'}
check('trace ids (span -2 read unsigned; sampled -> flags 2|4; 128-bit high half)', seen.get('trace') == want_trace, seen.get('trace'))
check('client id from the header', seen.get('clientId') == 'py-finagle', seen.get('clientId'))
check('retries from the Retries context', seen.get('retries') == 3, seen.get('retries'))
deadline_ms = seen.get('deadline')
check('deadline from the Deadline context', deadline_ms is not None and abs(deadline_ms - deadline_ns / 1e6) < 1000, [deadline_ms, deadline_ns / 1e6])
check('an unknown context forwarded unchanged', seen.get('forwarded') == ['com.example.Py=0001' + b'binary'.hex()], seen.get('forwarded'))

proto.header = {'trace_id': 5, 'span_id': 6}
check('addI64 behind headers', client.addI64(2, 3) == 5)
try:
    client.lookup('missing')
    check('declared exception behind headers', False, 'no exception')
except R.NotFound as e:
    check('declared exception behind headers', e.key == 'missing', str(e))
try:
    client.crash('boom')
    check('undeclared failure: TApplicationException behind headers', False, 'no exception')
except TApplicationException as e:
    check('undeclared failure: TApplicationException behind headers', e.type == TApplicationException.INTERNAL_ERROR, str(e))
client.noop()
check('void method behind headers', True)
client.record('py-event')  # oneway: a header, no reply
check('oneway behind a header, then a call', client.lastRecorded() == 'py-event')
minimal = json.loads(client.echoString('whoami'))
check('a minimal header: parent = span, sampling unknown', minimal.get('trace') == {'traceId': '5', 'spanId': '6', 'parentId': '6', 'flags': '0'}, minimal.get('trace'))
trans.close()

# A connection that never upgrades stays plain on the same server.
trans2, proto2 = connect()
client2 = RichService.Client(proto2)
plain = json.loads(client2.echoString('whoami'))
check('a plain connection: no trace, no client id', plain.get('trace') is None and plain.get('clientId') is None, plain)
check('a plain connection: calls work', client2.addI64(40, 2) == 42)
trans2.close()

print(json.dumps({'done': True, **results}), flush=True)
sys.exit(0 if results['failed'] == 0 else 1)
