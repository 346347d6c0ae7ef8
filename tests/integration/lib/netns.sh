# Network namespaces for the discovery tests (tests/integration/disc_*.sh). Sourced after
# lib/common.sh (it uses tmp_setup's T, at_exit, die and skip):
#
#   . "$(dirname "$0")/lib/common.sh"
#   . "$(dirname "$0")/lib/netns.sh"
#
# Every namespace is created by the test and removed on exit; interfaces are created inside
# the namespaces, so no interface ever appears in the root namespace (where it could disturb
# other tests, e.g. one picking "the first interface with a MAC") and no broadcast or
# multicast reaches a real interface.
#
#   netns_require              skip (77) without root, `ip netns` or python3
#   netns_star TAG N NET       namespaces TAGn1..TAGnN, each with eth0 (a veth) on the bridge br0
#                              of the namespace TAGbr, and lo up. NET "A.B.C": eth0 gets the IPv4
#                              address A.B.C.i/24; NET "P::" (IPv6 only): P::i/64 without duplicate
#                              address detection, and the bridge floods link-local multicast (no
#                              MLD snooping). Skips (77) when the kernel cannot; on exit the
#                              processes in the namespaces are killed (SIGKILL) and the
#                              namespaces deleted
#   netns_init_nodes N HWID    `chum init` of N nodes in $T/n1..$T/nN (node<i>@example.org,
#                              instance "node <i>", hardware ID HWID followed by i as two hex
#                              digits) and their identities (chum id --json) in $T/id<i>.json
#
# The checks themselves run in one Python process (starting python per poll is far too slow
# on a loaded machine); lib/netns_nodes.py has its helpers.

netns_require() {
  [ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
  command -v ip > /dev/null && ip netns list > /dev/null 2>&1 || skip "no 'ip netns'"
  command -v python3 > /dev/null || skip "needs python3"
}

_netns_cleanup() { # TAG N
  local i
  for i in $(seq 1 "$2"); do ip netns pids "${1}n$i" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  wait 2>/dev/null
  for i in $(seq 1 "$2"); do ip netns del "${1}n$i" 2>/dev/null; done
  ip netns del "${1}br" 2>/dev/null
}

netns_star() {
  local tag=$1 n=$2 net=$3 br=${1}br i ns
  at_exit "_netns_cleanup $tag $n"
  ip netns add "$br" || skip "cannot create a network namespace"
  ip -n "$br" link add br0 type bridge || skip "no bridge support"
  case $net in *:) ip -n "$br" link set br0 type bridge mcast_snooping 0 2>/dev/null ;; esac
  ip -n "$br" link set br0 up
  for i in $(seq 1 "$n"); do
    ns=${tag}n$i
    ip netns add "$ns"
    case $net in
      *:) # no duplicate address detection: addresses are usable at once (no tentative phase)
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
          net.ipv6.conf.all.accept_dad=0 > /dev/null 2>&1 || skip "no IPv6 in the namespace" ;;
    esac
    ip -n "$ns" link add eth0 type veth peer name "${tag}b$i" netns "$br" || skip "no veth support"
    case $net in
      *:) ip -n "$ns" -6 addr add "$net$i/64" dev eth0 nodad || skip "cannot add an IPv6 address" ;;
      *) ip -n "$ns" addr add "$net.$i/24" dev eth0 ;;
    esac
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$br" link set "${tag}b$i" master br0
    ip -n "$br" link set "${tag}b$i" up
  done
}

netns_init_nodes() {
  local i
  for i in $(seq 1 "$1"); do
    "$CHUM" --dir "$T/n$i" init --email "node$i@example.org" --instance "node $i" \
      --hwid "$2$(printf %02x "$i")" > /dev/null || die "chum init $i failed"
    "$CHUM" --dir "$T/n$i" id --json > "$T/id$i.json" || die "chum id $i failed"
  done
}
