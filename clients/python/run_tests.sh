#!/usr/bin/env bash
# Runs the Python package's tests (unittest, standard library only) against real
# "chatstore serve" processes: over SQLite one without tokens and one with a
# tokens file, and one over the in-memory store, each on a free port. Run from anywhere:
#
#   bash clients/python/run_tests.sh               # builds the server with go build
#   CHATSTORE_BIN=/path/to/chatstore bash clients/python/run_tests.sh
#
# The tests run from an sdist built here (setuptools' build_sdist works offline,
# where building a wheel would need the "wheel" package), so what is tested is
# what "pip install ./clients/python" installs. Haystack is used when it can be
# imported, and a stand-in for it (tests/standin) otherwise. Extra arguments go to
# "python3 -m unittest discover".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

bin=${CHATSTORE_BIN:-}
if [ -z "$bin" ]; then
	echo "building chatstore" >&2
	(cd "$repo" && CGO_ENABLED=0 go build -o "$work/chatstore" ./cmd/chatstore)
	bin="$work/chatstore"
fi

# serve NAME ARGS...: starts "chatstore serve" on a free port and sets url to its
# address, taken from its "listening" log record.
serve() {
	local name=$1 log="$work/$1.log"
	shift
	: >"$log" # exists before the server's shell opens it, so that sed never races it
	"$bin" serve --addr 127.0.0.1:0 --log-format json "$@" >/dev/null 2>"$log" &
	pids+=($!)
	url=
	for _ in $(seq 300); do
		url=$(sed -n 's/.*"msg":"listening".*"addr":"\([^"]*\)".*/\1/p' "$log" | head -n 1)
		if [ -n "$url" ]; then url="http://$url"; return; fi
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "chatstore serve ($name) did not start:" >&2
	cat "$log" >&2
	exit 1
}

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
readonly_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf 'py %s\npy %s read-only\n' "$token" "$readonly_token" >"$work/tokens"

serve open --store "sqlite://$work/py.db"
export CHATSTORE_TEST_SERVER_URL=$url
serve tokens --store "sqlite://$work/py-tokens.db" --tokens-file "$work/tokens"
export CHATSTORE_TEST_TOKEN_SERVER_URL=$url
export CHATSTORE_TEST_TOKEN=$token CHATSTORE_TEST_READONLY_TOKEN=$readonly_token
serve memory --store memory:// # compaction records: the in-memory store keeps them
export CHATSTORE_TEST_MEMORY_SERVER_URL=$url
unset CHATSTORE_TOKEN # the store's default token must come from the tests alone

# The package as pip would install it: the files of its sdist.
cp -R "$here" "$work/src"
rm -rf "$work/src/tests" "$work/src"/*.egg-info
if ! (cd "$work/src" && "$python" -W ignore -c 'import setuptools.build_meta as b, sys; b.build_sdist(sys.argv[1])' "$work/dist") >"$work/sdist.log" 2>&1; then
	echo "building the sdist failed:" >&2; cat "$work/sdist.log" >&2; exit 1
fi
tar -xzf "$work"/dist/chatstore-haystack-*.tar.gz -C "$work"
pkg=$(echo "$work"/chatstore-haystack-*/)
for f in chatstore_haystack/__init__.py chatstore_haystack/_http.py chatstore_haystack/errors.py \
	chatstore_haystack/store.py chatstore_haystack/py.typed README.md; do
	[ -f "$pkg/$f" ] || { echo "the sdist lacks $f" >&2; exit 1; }
done

echo "python: $("$python" --version 2>&1); servers: $CHATSTORE_TEST_SERVER_URL, $CHATSTORE_TEST_TOKEN_SERVER_URL (tokens), $CHATSTORE_TEST_MEMORY_SERVER_URL (memory)" >&2
cd "$here/tests"
PYTHONPATH="$pkg" PYTHONDONTWRITEBYTECODE=1 "$python" -m unittest discover -s . -t . "$@"
