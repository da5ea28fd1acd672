#!/usr/bin/env bash
# Install bpnetkit with its test extras (torch pinned to the CPU wheel) and run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q -c constraints.txt torch==2.13.0
pip install -q -c constraints.txt -e ".[test]"
ruff check src tests benchmarks
python -m pytest -q "$@"
