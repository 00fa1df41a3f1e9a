#!/usr/bin/env bash
# The simplest checker that honours the Mailflow Lab checker contract.
#
#   dig-swaks.sh DOMAIN RESOLVER_IP RESOLVER_PORT OUTBOUND
#
# Score it with:
#   args='{domain} {resolver_ip} {resolver_port} {outbound}'
#   maillab verify --checker "bash docs/adapters/dig-swaks.sh $args"
#
# It checks: an MX exists, each MX host resolves, port 25 of each MX address
# answers (and greets with 220 when swaks is installed), the relay's PTR
# exists and leads back to the relay, an SPF record exists. It prints the
# contract's JSON with the lab's finding codes. A query that fails is
# reported as dns.timeout, dns.servfail or dns.refused and its check is left
# undecided. Every query and connection has a timeout and goes only to the
# addresses it is given.
set -uo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 DOMAIN RESOLVER_IP RESOLVER_PORT OUTBOUND" >&2
    exit 2
fi
domain=$1 ns=$2 ns_port=$3 outbound=$4

# The lab moves every port below 1024 by 10000 when it may not bind them,
# and the resolver's port tells which way this lab went.
offset=0
[ "$ns_port" != 53 ] && offset=10000

findings=()
add() {  # code subject evidence
    findings+=("{\"code\": \"$1\", \"subject\": \"$2\", \"evidence\": [\"$3\"]}")
}

answer=""
ask() {  # TYPE NAME...: sets $answer to the answers of TYPE, one a line;
         # non-zero when undecided. Not run in $(...), so add() is kept.
    local type=$1 out status
    shift
    answer=""
    local query=("$@")
    [ "$1" != -x ] && query+=("$type")
    if ! out=$(dig +time=2 +tries=1 +noall +comments +answer \
            -p "$ns_port" "@$ns" "${query[@]}"); then
        add dns.timeout "${*: -1}/$type" "dig $*: no reply"
        return 9
    fi
    status=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<< "$out" | head -n 1)
    case $status in
        NOERROR|NXDOMAIN) ;;
        SERVFAIL|REFUSED)
            add "dns.${status,,}" "${*: -1}/$type" "dig $*: $status"
            return 3 ;;
        *) return 3 ;;
    esac
    [ "$status" = NXDOMAIN ] && [ "${*: -1}" = "$domain" ] && return 4
    answer=$(awk -v t="$type" '!/^;/ && $4 == t {
        $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' <<< "$out")
}

# MX: present, not null, and every exchange resolves to an address.
ask MX "$domain"
status=$?
mx=$answer
case $status in
    4)  # The domain itself does not exist: nothing else to look at.
        add dns.nxdomain "$domain" "dig $domain MX: NXDOMAIN"
        echo "{\"findings\": [${findings[0]}]}"
        exit 0 ;;
    0)  if [ -z "$mx" ] && ask A "$domain" && [ -z "$answer" ]; then
            add mx.missing "$domain" "dig $domain MX: no records, no A either"
        fi ;;
esac
while read -r _pref host; do
    [ -z "${_pref:-}" ] && continue
    host=${host%.}
    if [ -z "$host" ]; then
        # A null MX (RFC 7505) is only a fault for a domain that sends mail.
        [ -n "$outbound" ] && add mx.null "$domain" "MX 0 . on a sending domain"
        continue
    fi
    if [[ $host =~ ^[0-9.]+$ ]]; then
        add mx.ip-literal "$host" "MX names an address, not a host"
        continue
    fi
    ask A "$host" || continue
    addrs=$answer
    if [ -z "$addrs" ]; then
        add mx.host-unresolvable "$host" "dig $host A: no records"
        continue
    fi
    for a in $addrs; do
        port=$((25 + offset))
        timeout 3 bash -c "exec 3<>/dev/tcp/$a/$port" 2>/dev/null
        rc=$?
        if [ $rc -eq 124 ]; then
            add port.filtered "$host:25" "connect $a:$port timed out"
        elif [ $rc -ne 0 ]; then
            add port.closed "$host:25" "connect $a:$port refused"
        elif command -v swaks >/dev/null; then
            if ! swaks --server "$a" --port "$port" --quit-after CONNECT \
                    --timeout 3 >/dev/null 2>&1; then
                add smtp.banner-bad "$host:25" "swaks: no 220 from $a:$port"
            fi
        fi
    done
done <<< "$mx"

# The relay's PTR: present, and forward-confirmed.
IFS=, read -ra relays <<< "$outbound"
for ip in "${relays[@]}"; do
    ask PTR -x "$ip" || continue
    names=$answer
    if [ -z "$names" ]; then
        add ptr.missing "$ip" "dig -x $ip: no PTR"
        continue
    fi
    back=""
    for n in $names; do
        ask A "${n%.}" && back+=" $answer"
    done
    if ! grep -qw -- "$ip" <<< "$back"; then
        add ptr.mismatch "$ip" "PTR $names does not lead back to $ip"
    fi
done

# SPF: a TXT record starting v=spf1.
if ask TXT "$domain" && ! grep -qi '^"v=spf1' <<< "$answer"; then
    add spf.missing "$domain" "dig $domain TXT: no v=spf1 record"
fi

(IFS=,; echo "{\"findings\": [${findings[*]}]}")
