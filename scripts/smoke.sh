#!/usr/bin/env bash
# Install bpnetkit and run its main job: the demo, reads to motifs on a laptop CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q -c constraints.txt torch==2.13.0
pip install -q -c constraints.txt -e ".[peaks]"
bpnetkit demo --out demo_out "$@"
