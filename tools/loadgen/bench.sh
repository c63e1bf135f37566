#!/usr/bin/env bash
# bench.sh BIN [loadgen flags...] — what `make bench` runs.
#
# With BASE_URL set (and INBOX_URL, unless the inbox is on 127.0.0.1:8025), it drives
# that stack. Otherwise it starts one like `make run` does, in the background, on free
# ports, with the gateway's rate limits lifted and LOG_LEVEL=warn (a log line per request
# would cost the services more than the requests), runs the standard profile against it,
# prints the report and stops the stack. The stack's data and the seeding state stay in
# .bench/loadgen, so the next run reuses the seeded users and posts; delete it to start
# over. Real stores are chosen as for `make run` (REDIS_URL, <SERVICE>_DATABASE_URL, ...).
set -euo pipefail

bin=${1:?usage: bench.sh BIN [loadgen flags...]}
shift
dir=.bench/loadgen
mkdir -p "$dir"

if [[ -n "${BASE_URL:-}" ]]; then
	exec "$bin/loadgen" -profile standard -state "$dir/state" "$@"
fi

log=$dir/devstack.log
LOG_LEVEL=${LOG_LEVEL:-warn} "$bin/devstack" -bin "$bin" -data "$dir/stack" \
	-gateway 127.0.0.1:0 -inbox 127.0.0.1:0 \
	-set gateway.RATE_LIMIT_USER_PER_SECOND=1000000 \
	-set gateway.RATE_LIMIT_IP_PER_SECOND=1000000 \
	-set gateway.RATE_LIMIT_AUTH_IP_PER_MINUTE=1000000 \
	-set gateway.RATE_LIMIT_AUTH_EMAIL_PER_HOUR=1000000 \
	>"$log" 2>&1 &
stack=$!
stop() {
	kill -TERM "$stack" 2>/dev/null || true
	wait "$stack" 2>/dev/null || true
}
trap stop EXIT

for _ in $(seq 1 180); do
	grep -q '^instant is running' "$log" && break
	if ! kill -0 "$stack" 2>/dev/null; then
		echo "bench: the stack did not start; its output ($log):" >&2
		tail -n 40 "$log" >&2
		exit 1
	fi
	sleep 1
done
gateway=$(awk '$1 == "gateway" && $2 ~ /^http/ { print $2; exit }' "$log")
inbox=$(awk '$1 == "inbox" && $2 ~ /^http/ { print $2; exit }' "$log")
if [[ -z $gateway || -z $inbox ]]; then
	echo "bench: no gateway or inbox address in $log" >&2
	exit 1
fi
echo "bench: stack at $gateway (inbox $inbox, output in $log)"
"$bin/loadgen" -profile standard -base "$gateway" -inbox "$inbox" -state "$dir/state" "$@"
