#!/usr/bin/env bash
# One setup script for every entry point (example, tests, bench): installs what is missing, and
# nothing when everything is already there. Debian packages need root (CI and dev machines are root).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v thrift >/dev/null 2>&1 || need_apt+=(thrift-compiler)
/usr/bin/python3 -c 'import thrift' >/dev/null 2>&1 || need_apt+=(python3-thrift)
# The ZeroRPC interop tests' Python peer (test/peers/zerorpc_peer.py).
/usr/bin/python3 -c 'import zmq' >/dev/null 2>&1 || need_apt+=(python3-zmq)
/usr/bin/python3 -c 'import msgpack' >/dev/null 2>&1 || need_apt+=(python3-msgpack)
# zk:// tests: a real ZooKeeper (started by test/harness/zookeeper.ts) and a kazoo peer.
[ -f /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper)
[ -f /usr/share/java/slf4j-simple.jar ] || need_apt+=(libslf4j-java)
/usr/bin/python3 -c 'import kazoo' >/dev/null 2>&1 || need_apt+=(python3-kazoo)
# Queue tests and bench over Redis streams (test/harness/redis.ts starts it).
[ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
# TLS tests generate their certificates with it (test/harness/certs.ts).
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Queue tests: NATS JetStream (test/harness/nats.ts) and the Python queue peer's clients (test/peers/queue_peer.py).
[ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || need_apt+=(python3-boto3)
/usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || need_apt+=(python3-redis)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  if [ "$(id -u)" != 0 ]; then echo "setup: need root for apt-get (missing: ${need_apt[*]})" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

# npm dependencies: install when missing or older than the lock file.
# A symlinked node_modules is shared with another checkout: `npm ci` would empty it for both.
if [ -L node_modules ]; then
  :
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
