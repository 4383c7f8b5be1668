#!/usr/bin/env bash
# A generic CI job: catch the webhooks an app sends, and check they arrived (docs/sink.md).
set -euo pipefail
GETHOOK=${GETHOOK:-gethook}

# 1. Start a throwaway sink on a free port; it prints one JSON line once it is ready.
coproc SINK { exec $GETHOOK sink --port 0 --json; }
trap 'kill "$SINK_PID"; wait "$SINK_PID"' EXIT  # SIGTERM: it stops and removes its data
read -r line <&"${SINK[0]}"
ingest_url=$(jq -r .ingest_url <<<"$line")
export GETHOOK_API_URL=$(jq -r .base_url <<<"$line")
export GETHOOK_API_KEY=$(jq -r .api_key <<<"$line")

# 2. Run the app under test, pointed at "$ingest_url" (here, two webhooks sent with curl).
curl -fsS -X POST "$ingest_url" -H 'content-type: application/json' \
  -d '{"type": "invoice.paid", "id": "evt_1"}' >/dev/null
curl -fsS -X POST "$ingest_url/billing?attempt=1" -H 'content-type: application/json' \
  -d '{"type": "invoice.voided", "id": "evt_2"}' >/dev/null

# 3. Wait for them: exit 0 when both arrived, 1 on timeout (showing what did arrive).
$GETHOOK wait --count 2 --event-type 'invoice.*' --timeout 30
echo "both webhooks arrived"
