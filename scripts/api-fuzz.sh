#!/usr/bin/env bash
# Fuzzes the aggregator's HTTP API against openapi.yaml with schemathesis: generated valid and malformed
# requests, most signed as a registered node (scripts/api_fuzz_hooks.py), the rest unsigned or wrongly
# signed. Fails on any 5xx, any status or content type openapi.yaml does not document, a response that does
# not match its schema, an accepted invalid request, a mis-signed request not answered 401/403, or an
# aggregator that died. Sets up its own federation (keys from `segviz keygen`) and aggregator on loopback.
#
# Usage: scripts/api-fuzz.sh [SEGVIZ_BINARY]   (default .build/debug/segviz)
# Environment: FUZZ_EXAMPLES (cases per operation and phase, default 60), FUZZ_SEED (default 1), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-.build/debug/segviz}")
PY=${PYTHON:-python3}
EXAMPLES=${FUZZ_EXAMPLES:-60}
SEED=${FUZZ_SEED:-1}
[ -x "$BIN" ] || { echo "api-fuzz: $BIN is not built (swift build --product segviz)" >&2; exit 2; }
"$PY" -c "import schemathesis, cryptography" 2>/dev/null || {
  echo "api-fuzz: needs the Python packages schemathesis and cryptography (scripts/install-deps.sh installs them)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/segviz-api-fuzz.XXXXXX)
AGG=""
cleanup() { if [ -n "$AGG" ]; then kill "$AGG" 2>/dev/null || true; wait "$AGG" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT

for id in aggregator node-a node-b; do "$BIN" keygen --id "$id" --out "$WORK/keys" >/dev/null; done
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
# The federation file as a real two-machine set-up writes it: the public keys pinned, a small U-Net.
"$PY" - "$WORK/keys" "$URL" > "$WORK/keys/federation.json" <<'PYEOF'
import json, sys
keys, url = sys.argv[1], sys.argv[2]
pub = lambda i: open(f"{keys}/{i}.pub").read().split("\n")[1].strip()
print(json.dumps({
    "version": 2, "name": "api-fuzz",
    "aggregator": {"id": "aggregator", "publicKey": pub("aggregator"), "url": url},
    "labels": {"0": "background", "1": "liver", "2": "spleen"},
    "nodes": [{"id": "node-a", "publicKey": pub("node-a"), "organs": ["liver"]},
              {"id": "node-b", "publicKey": pub("node-b"), "organs": ["spleen"]}],
    "network": {"channels": [4, 8], "strides": [2], "numResUnits": 1, "norm": "batch"},
    "strategy": "single", "localPatterns": [], "rounds": 1000, "localEpochs": 1,
    "training": {"patch": [16, 16, 16], "patchesPerVolume": 1, "learningRate": 0.001, "spacing": [3, 3, 3],
                 "window": [-175, 250], "seed": 1},
    "secureAggregation": {"threshold": 2, "clip": 8, "allowSingleContributorBlocks": False},
    "phaseTimeoutSeconds": 3600, "trainingTimeoutSeconds": 3600}, indent=1))
PYEOF

"$BIN" aggregator --federation "$WORK/keys/federation.json" --state "$WORK/state" --threads 1 \
  --long-poll-seconds 0.3 2> "$WORK/aggregator.log" &
AGG=$!
for _ in $(seq 100); do
  "$PY" -c "import urllib.request; urllib.request.urlopen('$URL/', timeout=2)" 2>/dev/null && break
  kill -0 "$AGG" 2>/dev/null || { echo "api-fuzz: the aggregator did not start:" >&2; cat "$WORK/aggregator.log" >&2; exit 1; }
  sleep 0.2
done

set +e
ROOT=$PWD
cd "$WORK"  # schemathesis keeps its cache in the working directory
SCHEMATHESIS_HOOKS=api_fuzz_hooks PYTHONPATH="$ROOT/scripts" \
SEGVIZ_FUZZ_URL="$URL" SEGVIZ_FUZZ_FEDERATION="$WORK/keys/federation.json" SEGVIZ_FUZZ_NODE=node-a SEGVIZ_FUZZ_KEY="$WORK/keys/node-a.key" SEGVIZ_FUZZ_SEED="$SEED" \
  "$PY" -m schemathesis.cli run "$ROOT/openapi.yaml" --url "$URL" --seed "$SEED" --max-examples "$EXAMPLES" --workers 2 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,unsupported_method,auth_is_enforced \
  --request-timeout 30 --suppress-health-check all --no-color
STATUS=$?
set -e
cd "$ROOT"
if ! kill -0 "$AGG" 2>/dev/null; then
  echo "api-fuzz: FAILED: the aggregator died during the run:" >&2; tail -20 "$WORK/aggregator.log" >&2; exit 1
fi
"$PY" -c "import urllib.request; urllib.request.urlopen('$URL/', timeout=5)" \
  || { echo "api-fuzz: FAILED: the aggregator no longer answers" >&2; exit 1; }
if grep -q "Fatal error\|Segmentation" "$WORK/aggregator.log"; then
  echo "api-fuzz: FAILED: the aggregator logged a crash" >&2; exit 1
fi
[ "$STATUS" = 0 ] && echo "api-fuzz: passed; the aggregator is alive and answering" || echo "api-fuzz: FAILED (schemathesis exit $STATUS)" >&2
exit "$STATUS"
