#!/bin/sh
# A private registry on this machine, from start to finish:
#   1. `dockyard registry serve` on 127.0.0.1 with access control (the Docker token flow)
#   2. a user, alice, who may push to her namespace alice/*
#   3. alice logs in and pushes an image to alice/tools
#   4. the repository is public: anyone may pull it, anonymous users too
#   5. the repository is made private: an anonymous pull is refused, alice's pull works
#   6. the server stops
# The registry's data, the logins and the server's log live in a temporary directory that is
# removed at the end; the image store is dockyard's own (DOCKYARD_ROOT, or --root's default).
#
# Usage: ./run.sh [IMAGE]    IMAGE: a local image to push (default: busybox, made from
#                            Debian's busybox-static when it is missing)
# Environment: REGISTRY_ADDR (default 127.0.0.1:0: any free port), DOCKYARD (the command).
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
IMAGE="${1:-busybox}"
DOCKYARD="${DOCKYARD:-dockyard}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dockyard-registry-example.XXXXXX")"
REG="$WORK/registry"              # the registry's storage and users
ALICE="$WORK/alice"               # alice's client config (her login)
ANON="$WORK/anonymous"            # a client that never logged in
PASSWORD="alice-example-password" # an example's only: read it from a secret in real life
SERVER_PID=""

say() { printf '\n== %s\n' "$*"; }
run() { echo "\$ dockyard $*"; "$DOCKYARD" "$@"; }
# client NAME DIR ARGS: dockyard as a client whose logins live in DIR ($DOCKER_CONFIG)
client() { name="$1" dir="$2"; shift 2; echo "\$ DOCKER_CONFIG=\$$name dockyard $*"; DOCKER_CONFIG="$dir" "$DOCKYARD" "$@"; }

cleanup() {
    if [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; then wait "$SERVER_PID" || true; fi
    if [ -n "${ADDR:-}" ]; then
        "$DOCKYARD" rmi "$ADDR/alice/tools:1.0" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$ALICE" "$ANON"
# every `dockyard registry` command below (serve too) works on this registry root
DOCKYARD_REGISTRY_ROOT="$REG"; export DOCKYARD_REGISTRY_ROOT

if ! "$DOCKYARD" image inspect "$IMAGE" >/dev/null 2>&1; then
    [ "$IMAGE" = busybox ] || { echo "no local image $IMAGE: build, pull or import it first" >&2; exit 1; }
    say "making the busybox image from Debian's busybox-static"
    python3 "$HERE/../../tests/support/rootfs.py" busybox "$WORK/busybox.tar"
    run import -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox
fi

say "a user, alice, who may push (and so pull) every repository under alice/"
echo "\$ echo \"\$PASSWORD\" | dockyard registry user add alice --password-stdin"
echo "$PASSWORD" | "$DOCKYARD" registry user add alice --password-stdin
run registry grant alice push 'alice/*'
run registry grants

say "the server, on loopback, with the Docker token flow (its default)"
echo "\$ dockyard registry serve --addr ${REGISTRY_ADDR:-127.0.0.1:0} --auth token &"
"$DOCKYARD" registry serve --addr "${REGISTRY_ADDR:-127.0.0.1:0}" --auth token \
    >"$WORK/serve.out" 2>"$WORK/access.log" &
SERVER_PID=$!
tries=0
until grep -q "listening on" "$WORK/serve.out" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the registry did not start:" >&2; cat "$WORK/access.log" >&2; exit 1
    fi
    sleep 0.1
done
cat "$WORK/serve.out"
ADDR="$(sed -n 's|.*listening on https\{0,1\}://\([^ ]*\).*|\1|p' "$WORK/serve.out")"
REPO="$ADDR/alice/tools"

say "alice logs in and pushes $IMAGE as $REPO:1.0"
echo "\$ echo \"\$PASSWORD\" | DOCKER_CONFIG=\$ALICE dockyard login -u alice --password-stdin $ADDR"
echo "$PASSWORD" | DOCKER_CONFIG="$ALICE" "$DOCKYARD" login -u alice --password-stdin "$ADDR"
run tag "$IMAGE" "$REPO:1.0"
client ALICE "$ALICE" push "$REPO:1.0"
run rmi "$REPO:1.0"

say "the repository is public: an anonymous user may pull it"
run registry repo set-visibility alice/tools public
client ANON "$ANON" pull "$REPO:1.0"
run rmi "$REPO:1.0"

say "the repository is private: an anonymous pull is refused"
run registry repo set-visibility alice/tools private
run registry repo ls
if client ANON "$ANON" pull "$REPO:1.0"; then
    echo "FAILED: the anonymous pull of a private repository was allowed" >&2
    exit 1
fi
echo "(refused, as it should be)"

say "alice may still pull it"
client ALICE "$ALICE" pull "$REPO:1.0"
run run --rm --network none "$REPO:1.0" echo "hello from the image alice pulled"
run rmi "$REPO:1.0"

say "the server stops (SIGTERM: requests in flight finish first)"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=""
echo "the registry answered $(wc -l <"$WORK/access.log") request(s); done"
