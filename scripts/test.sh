#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian/Ubuntu machine, then run it.
#   - Chromium: the report tests open the HTML report in headless Chromium (tests/report/).
#   - Java 17 must already be on the machine for the Spark tests (tests/engines/).
#   - expguard itself with its test and Spark extras.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not spark"`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
    else
        echo "scripts/test.sh: install Chromium (Debian/Ubuntu: apt-get install chromium) for the report tests" >&2
    fi
fi
java -version 2>&1 | head -1 || echo "scripts/test.sh: no java on PATH; the Spark tests need Java 17" >&2

python3 -m pip install -q -e ".[test,spark]"
python3 -m pytest -q "$@"
