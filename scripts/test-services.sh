#!/usr/bin/env bash
# Install and start what the test suite talks to. Later issues add Prometheus, Alertmanager,
# PostgreSQL, Redis and Chromium here; each step is a no-op when the piece is already present.
set -euo pipefail
echo "test-services: nothing external is needed yet"
