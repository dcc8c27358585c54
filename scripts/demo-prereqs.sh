#!/usr/bin/env bash
# What `handrail demo` (`make run`) needs beyond Python: PostgreSQL's initdb and pg_ctl, Prometheus and
# Alertmanager. As root on Debian/Ubuntu it installs what is missing; elsewhere it says exactly what to
# install. Each step is a no-op when the piece is already there. The demo runs its own throwaway
# instances on free ports: it never uses or changes a PostgreSQL, Prometheus or Alertmanager already here.
set -euo pipefail

as_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
missing=()

postgres_binaries() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; }
postgres_binaries || command -v pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 ||
    missing+=(prometheus-alertmanager)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! as_root_with_apt; then
    echo "demo-prereqs: the demo needs ${missing[*]}." >&2
    echo "demo-prereqs: on Debian/Ubuntu run: sudo apt-get install ${missing[*]}" >&2
    echo "demo-prereqs: elsewhere install PostgreSQL (initdb and pg_ctl), Prometheus and Alertmanager from your" >&2
    echo "demo-prereqs: package manager or https://prometheus.io/download/, with all three on PATH." >&2
    exit 1
fi
echo "demo-prereqs: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "demo-prereqs: ${missing[*]} installed" >&2
