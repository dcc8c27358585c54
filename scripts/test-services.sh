#!/usr/bin/env bash
# Install and start what the test suite talks to, when it is missing. Each step is a no-op when
# the piece is already there, so `make test` stays quick on a prepared machine.
#   - prometheus (Debian package): the tests start their own servers on free ports
#   - PostgreSQL on 127.0.0.1:5432 with trust auth and a database `test`
#   - Redis on 127.0.0.1:6379 (started here when it is installed but not running)
#   - chromium (Debian package) with a font, for the console's browser tests (Playwright drives it)
set -euo pipefail

as_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=""
apt_install() {
    if ! as_root_with_apt; then
        echo "test-services: please install $* (Debian/Ubuntu: apt-get install $*)" >&2
        exit 1
    fi
    if [ -z "$apt_updated" ]; then
        apt-get update -qq
        apt_updated=1
    fi
    echo "test-services: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Prometheus and Alertmanager: the binaries only; tests run their own instances.
command -v prometheus >/dev/null 2>&1 || apt_install prometheus
command -v prometheus-alertmanager >/dev/null 2>&1 || apt_install prometheus-alertmanager

# Chromium for the console's browser tests: Debian's build at /usr/bin/chromium (Playwright does not download one).
command -v chromium >/dev/null 2>&1 || apt_install chromium fonts-dejavu-core

# PostgreSQL: reachable on 127.0.0.1:5432, or installed and started here.
postgres_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }
if ! postgres_ready; then
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-client
    version=$(ls /etc/postgresql | sort -n | tail -1)
    conf=/etc/postgresql/$version/main
    # trust on loopback, as the tests expect (a throwaway test machine, never production)
    if ! grep -q "handrail-tests" "$conf/pg_hba.conf"; then
        sed -i '1i host all all 127.0.0.1/32 trust # handrail-tests\nhost all all ::1/128 trust # handrail-tests' "$conf/pg_hba.conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do postgres_ready && break; sleep 1; done
    postgres_ready || { echo "test-services: PostgreSQL did not start" >&2; exit 1; }
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE test"
# Redis: reachable on 127.0.0.1:6379, or installed and started here (it keeps nothing on disk).
redis_ready() { command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_ready; then
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/handrail-tests.log
    for _ in $(seq 1 30); do redis_ready && break; sleep 0.5; done
    redis_ready || { echo "test-services: Redis did not start" >&2; exit 1; }
fi
echo "test-services: prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), $(chromium --version 2>/dev/null | awk '{print $1, $2}'), PostgreSQL and Redis ready"
