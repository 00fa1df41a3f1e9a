#!/bin/sh
# The lab image's entry point. One image, two roles (MAILLAB_ROLE):
#   lab      run MAILLAB_SCENARIO's lab in the foreground; its state file
#            goes to the shared folder so the trainee can find the resolver
#   trainee  wait for that state file, make the lab's DNS this container's
#            resolver, then run the given command (a shell by default)
# With arguments and no role, the arguments go to maillab as they are.
set -eu

share="${MAILLAB_SHARE:-/run/maillab-share}"
state="$share/lab/state.json"
role="${MAILLAB_ROLE:-}"

if [ -z "$role" ] && [ "$#" -gt 0 ]; then
    exec maillab "$@"
fi

case "${role:-lab}" in
lab)
    set -- up --dir "$share/lab"
    # --network exists once isolated mode is wired into the command line.
    if [ -n "${MAILLAB_NETWORK:-}" ]; then
        set -- "$@" --network "$MAILLAB_NETWORK"
    fi
    exec maillab "$@" "${MAILLAB_SCENARIO:-healthy}"
    ;;
trainee)
    # Bounded: the compose health check should make this wait short.
    waited=0
    while [ ! -s "$state" ]; do
        if [ "$waited" -ge "${MAILLAB_WAIT:-60}" ]; then
            echo "no lab state file at $state after ${waited}s" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    resolv="${MAILLAB_RESOLV_CONF:-/etc/resolv.conf}"
    python3 - "$state" "$resolv" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
ip, _, port = state["resolver"].rpartition(":")
if port != "53":
    sys.exit(f"the lab's DNS is on port {port}, which resolv.conf cannot name")
with open(sys.argv[2], "w") as out:
    out.write(f"nameserver {ip}\nsearch {state['domain']}\n"
              "options timeout:2 attempts:1\n")
print(f"resolver {ip} ({state['scenario']} lab for {state['domain']})")
PY
    if [ "$#" -eq 0 ]; then
        set -- bash
    fi
    exec "$@"
    ;;
*)
    echo "MAILLAB_ROLE must be lab or trainee, not '$role'" >&2
    exit 2
    ;;
esac
