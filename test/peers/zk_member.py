#!/usr/bin/python3
"""A serverset member written the way Finagle/Aurora servers write it, with Debian's python3-kazoo.

    /usr/bin/python3 test/peers/zk_member.py --zk 127.0.0.1:2181 --path /services/x \
        --host 127.0.0.1 --port 9090 [--shard 0] [--additional http=127.0.0.1:8080] \
        [--status ALIVE] [--session-timeout 4]

Creates missing parents (persistent, open ACL), then one ephemeral sequential `member_` node
with the data in the create: compact JSON, keys serviceEndpoint, additionalEndpoints, status,
shard. Prints `MEMBER <node path>` and waits for signals:
  SIGUSR1 deletes the node (prints LEFT); SIGUSR2 toggles the status between STOPPING and ALIVE
  (prints STATUS S); SIGTERM closes the session (the node goes with it) and exits.
kill -9 leaves the node behind until the session expires, as a crashed server does.
"""
import argparse
import json
import signal
import threading

from kazoo.client import KazooClient


def record(args, status):
    additional = {}
    for item in args.additional:
        name, addr = item.split('=', 1)
        host, port = addr.rsplit(':', 1)
        additional[name] = {'host': host, 'port': int(port)}
    rec = {
        'serviceEndpoint': {'host': args.host, 'port': args.port},
        'additionalEndpoints': additional,
        'status': status,
        'shard': args.shard,
    }
    # Finagle's exact bytes: no spaces, keys in this order.
    return json.dumps(rec, separators=(',', ':')).encode('utf-8')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--zk', required=True)
    p.add_argument('--path', required=True)
    p.add_argument('--host', required=True)
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--shard', type=int, default=0)
    p.add_argument('--additional', action='append', default=[])
    p.add_argument('--status', default='ALIVE')
    p.add_argument('--session-timeout', type=float, default=4.0)
    args = p.parse_args()

    zk = KazooClient(hosts=args.zk, timeout=args.session_timeout)
    zk.start(timeout=15)
    zk.ensure_path(args.path)
    node = zk.create(args.path.rstrip('/') + '/member_', record(args, args.status), ephemeral=True, sequence=True)
    print('MEMBER ' + node, flush=True)
    state = {'status': args.status}
    done = threading.Event()
    requests = []

    def on_signal(signum, _frame):
        requests.append(signum)
        done.set()

    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
        signal.signal(sig, on_signal)
    while True:
        done.wait(0.5)
        done.clear()
        while requests:
            sig = requests.pop(0)
            if sig == signal.SIGUSR1:
                zk.delete(node)
                print('LEFT', flush=True)
            elif sig == signal.SIGUSR2:
                state['status'] = 'ALIVE' if state['status'] != 'ALIVE' else 'STOPPING'
                zk.set(node, record(args, state['status']))
                print('STATUS ' + state['status'], flush=True)
            else:
                zk.stop()
                zk.close()
                return

if __name__ == '__main__':
    main()
