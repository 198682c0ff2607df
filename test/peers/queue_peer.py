#!/usr/bin/python3
"""A Python producer or consumer of Scales queue messages (docs/queue.md), with Apache Thrift's
Python library writing and reading the Thrift bodies itself (generated code for jobs.thrift), so
it fails when our bytes are wrong.

Usage: queue_peer.py --gen-dir DIR --backend redis|sqs|nats --mode produce|consume --count N
                     [--first-id K] [--trace T] [--timeout-s S]
                     redis: --host H --port P --queue STREAM        (group 'scales', as ours)
                     sqs:   --endpoint URL --queue-url URL          (boto3; body = base64)
                     nats:  --host H --port P --queue STREAM        (JetStream over the NATS text protocol)
produce: sends Jobs.notify(id, 'py-<id>') for ids first-id.. first-id+count-1; prints {"sent": N}.
consume: receives count messages, decodes, acks; one JSON line per call
         {"method", "id" (a string: exact past 2^53), "payload", "trace", "type"}; exits 1 on a message it cannot decode.
"""
import argparse
import base64
import json
import os
import socket
import sys
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--gen-dir', required=True)
    p.add_argument('--backend', choices=['redis', 'sqs', 'nats'], required=True)
    p.add_argument('--mode', choices=['produce', 'consume'], required=True)
    p.add_argument('--count', type=int, required=True)
    p.add_argument('--first-id', type=int, default=1)
    p.add_argument('--trace', default=None)
    p.add_argument('--timeout-s', type=float, default=60)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int)
    p.add_argument('--queue')
    p.add_argument('--endpoint')
    p.add_argument('--queue-url')
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

from thrift.Thrift import TMessageType  # noqa: E402
from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TTransport  # noqa: E402
from jobs import Jobs  # noqa: E402


def encode_notify(call_id, payload):
    t = TTransport.TMemoryBuffer()
    p = TBinaryProtocol.TBinaryProtocol(t)
    p.writeMessageBegin('notify', TMessageType.ONEWAY, 0)
    Jobs.notify_args(id=call_id, payload=payload).write(p)
    p.writeMessageEnd()
    return t.getvalue()


def decode(body, method_attr):
    """The call in body, checked strictly: strict header, the attribute's method, nothing left over."""
    t = TTransport.TMemoryBuffer(body)
    p = TBinaryProtocol.TBinaryProtocol(t, strictRead=True)
    name, mtype, seqid = p.readMessageBegin()
    if name != method_attr:
        raise ValueError('body calls %r but scales.method is %r' % (name, method_attr))
    if mtype not in (TMessageType.CALL, TMessageType.ONEWAY) or seqid != 0:
        raise ValueError('message type %d seqid %d' % (mtype, seqid))
    cls = {'notify': Jobs.notify_args, 'work': Jobs.work_args}[name]
    a = cls()
    a.read(p)
    p.readMessageEnd()
    left = len(body) - t._buffer.tell()
    if left != 0:
        raise ValueError('%d bytes after the message' % left)
    return name, mtype, a


def emit(o):
    sys.stdout.write(json.dumps(o) + '\n')
    sys.stdout.flush()


def attrs_for(trace):
    a = {'scales.method': 'notify'}
    if trace:
        a['scales.trace'] = trace
    return a


class Nats:
    """Just enough of the NATS text protocol for JetStream publish, pull and ack."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.buf = b''
        info = self.line()
        if not info.startswith(b'INFO'):
            raise ValueError('not a NATS server: %r' % info)
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\nPING\r\n')
        self.inbox = '_INBOX.py%d' % os.getpid()
        self.sock.sendall(('SUB %s.* 1\r\n' % self.inbox).encode())
        self.n = 0
        while self.next_msg() is not None:
            pass  # until PONG

    def line(self):
        while b'\r\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('NATS closed the connection')
            self.buf += chunk
        i = self.buf.index(b'\r\n')
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('NATS closed the connection')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n + 2:]
        return out

    def next_msg(self):
        """(subject, reply, headers dict, status, payload); None for PONG."""
        while True:
            ln = self.line()
            if ln == b'PING':
                self.sock.sendall(b'PONG\r\n')
            elif ln == b'PONG':
                return None
            elif ln.startswith(b'+OK'):
                continue
            elif ln.startswith(b'-ERR'):
                raise ValueError(ln.decode())
            elif ln.startswith(b'MSG '):
                parts = ln.decode().split(' ')
                reply = parts[3] if len(parts) == 5 else None
                return parts[1], reply, {}, None, self.exact(int(parts[-1]))
            elif ln.startswith(b'HMSG '):
                parts = ln.decode().split(' ')
                reply = parts[3] if len(parts) == 6 else None
                hlen, total = int(parts[-2]), int(parts[-1])
                raw = self.exact(total)
                head, payload = raw[:hlen].decode(), raw[hlen:]
                lines = head.split('\r\n')
                status = lines[0][len('NATS/1.0'):].strip() or None
                headers = {}
                for h in lines[1:]:
                    if ':' in h:
                        k, v = h.split(':', 1)
                        headers[k.strip()] = v.strip()
                return parts[1], reply, headers, status, payload

    def publish(self, subject, payload, headers=None, reply=None):
        r = (' ' + reply) if reply else ''
        if headers:
            head = ('NATS/1.0\r\n' + ''.join('%s: %s\r\n' % kv for kv in headers.items()) + '\r\n').encode()
            self.sock.sendall(('HPUB %s%s %d %d\r\n' % (subject, r, len(head), len(head) + len(payload))).encode() + head + payload + b'\r\n')
        else:
            self.sock.sendall(('PUB %s%s %d\r\n' % (subject, r, len(payload))).encode() + payload + b'\r\n')

    def request(self, subject, payload, headers=None):
        self.n += 1
        reply = '%s.%d' % (self.inbox, self.n)
        self.publish(subject, payload, headers, reply)
        while True:
            m = self.next_msg()
            if m is not None and m[0] == reply:
                return m


def produce():
    ids = list(range(args.first_id, args.first_id + args.count))
    if args.backend == 'redis':
        import redis
        r = redis.Redis(host=args.host, port=args.port)
        for i in ids:
            fields = {'body': encode_notify(i, 'py-%d' % i)}
            fields.update(attrs_for(args.trace))
            r.xadd(args.queue, fields)
    elif args.backend == 'sqs':
        import boto3
        sqs = boto3.client('sqs', endpoint_url=args.endpoint, region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
        for i in ids:
            attrs = {k: {'DataType': 'String', 'StringValue': v} for k, v in attrs_for(args.trace).items()}
            sqs.send_message(QueueUrl=args.queue_url, MessageBody=base64.b64encode(encode_notify(i, 'py-%d' % i)).decode(), MessageAttributes=attrs)
    else:
        nc = Nats(args.host, args.port)
        for i in ids:
            _, _, _, status, ack = nc.request(args.queue, encode_notify(i, 'py-%d' % i), attrs_for(args.trace))
            res = json.loads(ack or b'{}')
            if status is not None or 'error' in res:
                raise ValueError('JetStream refused the message: %s %r' % (status, ack))
    emit({'sent': len(ids)})


def consume():
    deadline = time.time() + args.timeout_s
    got = 0

    def handle(body, attrs):
        name, mtype, a = decode(body, attrs.get('scales.method'))
        emit({'method': name, 'type': mtype, 'id': str(a.id), 'payload': a.payload, 'trace': attrs.get('scales.trace')})

    if args.backend == 'redis':
        import redis
        r = redis.Redis(host=args.host, port=args.port)
        try:
            r.xgroup_create(args.queue, 'scales', id='0', mkstream=True)
        except redis.ResponseError as e:
            if 'BUSYGROUP' not in str(e):
                raise
        while got < args.count and time.time() < deadline:
            for _, entries in r.xreadgroup('scales', 'py-%d' % os.getpid(), {args.queue: '>'}, count=100, block=500) or []:
                for entry_id, fields in entries:
                    handle(fields[b'body'], {k.decode(): v.decode() for k, v in fields.items() if k != b'body'})
                    r.xack(args.queue, 'scales', entry_id)
                    got += 1
    elif args.backend == 'sqs':
        import boto3
        sqs = boto3.client('sqs', endpoint_url=args.endpoint, region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
        while got < args.count and time.time() < deadline:
            r = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=['All'])
            for m in r.get('Messages', []):
                attrs = {k: v.get('StringValue') for k, v in m.get('MessageAttributes', {}).items()}
                handle(base64.b64decode(m['Body'], validate=True), attrs)
                sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=m['ReceiptHandle'])
                got += 1
    else:
        nc = Nats(args.host, args.port)
        nc.n += 1
        pull = '%s.%d' % (nc.inbox, nc.n)
        while got < args.count and time.time() < deadline:
            nc.publish('$JS.API.CONSUMER.MSG.NEXT.%s.scales' % args.queue, json.dumps({'batch': 100, 'expires': 1000000000}).encode(), reply=pull)
            while True:
                subject, reply, headers, status, payload = nc.next_msg() or (None, None, {}, 'pong', b'')
                if status is not None:
                    break  # 404 no messages / 408 request expired: pull again
                handle(payload, headers)
                nc.publish(reply, b'+ACK')
                got += 1
                if got >= args.count:
                    break
        nc.sock.sendall(b'PING\r\n')
        while nc.next_msg() is not None:
            pass  # the acks are read by the server before we leave
    if got < args.count:
        emit({'error': 'received %d of %d' % (got, args.count)})
        sys.exit(1)


try:
    produce() if args.mode == 'produce' else consume()
except Exception as e:  # noqa: BLE001 - the test reads the reason
    emit({'error': '%s: %s' % (type(e).__name__, e)})
    sys.exit(1)
