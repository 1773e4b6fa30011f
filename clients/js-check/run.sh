#!/usr/bin/env bash
# Runs check.mjs, OpenAI's official JavaScript package against chatstore's
# Conversations routes, on a "chatstore serve" over SQLite with a token:
#
#   bash clients/js-check/run.sh        # builds the server with go build
#
# It installs the package version package-lock.json pins (npm ci, from the
# npm registry). CHATSTORE_BIN names a prebuilt binary instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

bin=${CHATSTORE_BIN:-}
if [ -z "$bin" ]; then
	echo "building chatstore" >&2
	(cd "$repo" && CGO_ENABLED=0 go build -o "$work/chatstore" ./cmd/chatstore)
	bin="$work/chatstore"
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf 'js %s\n' "$token" >"$work/tokens"
log="$work/serve.log"
: >"$log" # exists before the server's shell opens it, so that sed never races it
"$bin" serve --addr 127.0.0.1:0 --log-format json --store "sqlite://$work/js.db" --tokens-file "$work/tokens" >/dev/null 2>"$log" &
pid=$!
url=
for _ in $(seq 300); do
	url=$(sed -n 's/.*"msg":"listening".*"addr":"\([^"]*\)".*/\1/p' "$log" | head -n 1)
	[ -n "$url" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$url" ]; then
	echo "chatstore serve did not start:" >&2
	cat "$log" >&2
	exit 1
fi
(cd "$here" && CHATSTORE_URL="http://$url" CHATSTORE_TOKEN="$token" node check.mjs)
