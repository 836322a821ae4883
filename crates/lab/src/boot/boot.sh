#!/bin/bash
# One boot of the boot lane (`openperouter lab boot-check`), run inside the lab VM booted with
# systemd as PID 1 (as the VM's oneshot command unit). Written by crates/lab/src/boot/boot.sh.
#
#   boot.sh WORK install            install host mode as docs/host-mode.md says (managed FRR)
#   boot.sh WORK check MODE [switch] check the units came up by themselves (MODE managed or
#                                    pathspace); with `switch`, then move to the pathspace
#                                    variant as docs/host-mode.md says
#
# WORK is the host directory shared read-write; it holds the harness files, the password and
# (written at the end of every boot) upper-N.tar, what this boot changed in the root, unpacked over
# the root by the next boot. Environment: BIN (the openperouter binary), DIST (the repository's
# dist/), BOOT_N (this boot's number). Lines starting with "RESULT " are the lane's figures.
set -u
W=$1
phase=$2
mode=${3:-managed}
switch=${4:-}
LAB=b
NODE_NS=$LAB-node0
PEER_HOST_NS=$LAB-hostA-red
POD=10.244.0.2
fail=0

say() { echo "== boot $BOOT_N: $*"; }
pass() { echo "PASS $*"; }
bad() {
    echo "FAIL $*"
    fail=1
}
now_us() { awk '{ printf "%d", $1 * 1000000 }' /proc/uptime; }
secs() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000000 }'; }
prop() { systemctl show -p "$2" --value "$1"; }
agent_ready() { ip netns exec "$NODE_NS" openperouter status --agent 127.0.0.1:9081 >/dev/null 2>&1; }
# How to reach the router's FRR: Debian's pathspace instance, or the agent's managed one.
if [ "$mode" = pathspace ]; then
    VTYSH=(vtysh -N perouter)
else
    VTYSH=(vtysh --vty_socket /var/run/openperouter/frr/perouter)
fi
vty() { "${VTYSH[@]}" "$@"; }

save_upper() {
    # What this boot changed in the root, for the next boot (the VM's disk, in effect).
    journalctl --sync
    sync
    # Status 1: a file (the journal) changed while it was read; the archive is complete.
    tar -C /run/opr-vm/upper -cf "$W/upper-$BOOT_N.tar" .
    [ $? -le 1 ] || bad "saving the root's changes to $W/upper-$BOOT_N.tar"
}

diagnose() {
    # Bracketed so that CI's digest of a failed run (.ci/run) can show the whole of it.
    say "diagnosis"
    diagnose_body
    say "end of diagnosis"
}

diagnose_body() {
    systemctl --no-pager status openperouter opr-lab-fabric 'frr@perouter' 'openperouter-netns@perouter' 2>&1 | tail -n 60
    # The agent's warnings and errors from its start, then its last lines.
    journalctl -b --no-pager -o short-monotonic -u openperouter | grep -E ' (WARN|ERROR) ' | head -n 30
    journalctl -b --no-pager -o short-monotonic -u openperouter | tail -n 40
    # FRR's side: what its supervisor restarted, and mgmtd's sessions, locks and transactions.
    journalctl -b --no-pager -o short-monotonic -u 'frr@perouter' | tail -n 40
    local c
    for c in 'show mgmt frontend-adapter all' 'show mgmt transaction all' 'show mgmt backend-adapter all'; do
        echo "-- $c"
        timeout 10 "${VTYSH[@]}" -c "$c" 2>&1 | head -n 60
    done
    echo "-- vtysh processes"
    pgrep -a vtysh
    # The managed FRR's own logs (its run directory is not in the journal).
    local f
    for f in mgmtd.log zebra.log staticd.log frr-ctl.log; do
        [ -r "/var/run/openperouter/frr/perouter/$f" ] || continue
        echo "-- $f"
        tail -n 40 "/var/run/openperouter/frr/perouter/$f"
    done
}

install_managed() {
    say "installing host mode as docs/host-mode.md says (managed FRR)"
    set -e
    # The packaged frr.service is not used.
    systemctl disable --now frr
    # Test harness: the lab's other speakers, installed in the root, are not on a user's host.
    systemctl disable --now bird gobgpd
    install -m 0755 "$BIN" /usr/local/bin/openperouter
    install -d /etc/openperouter/config
    cp "$W/openpe.yaml" /etc/openperouter/config/
    printf 'nodeIndex:\n  index: 0\nnodeName: node0\n' >/etc/openperouter/config/node-config.yaml
    install -d -m 0700 /etc/openperouter/secrets/tor-bgp
    install -m 0600 "$W/password" /etc/openperouter/secrets/tor-bgp/password
    openperouter validate -f /etc/openperouter/config --secrets-dir /etc/openperouter/secrets
    install -m 0644 "$DIST/systemd/openperouter.service" /etc/systemd/system/
    # Test harness, not product: the lab fabric around the node, built at boot before the agent,
    # and the agent's host namespace set to the lab node's.
    install -d /etc/opr-lab /etc/systemd/system/openperouter.service.d
    install -m 0644 "$W/tor-password.sh" /etc/opr-lab/
    install -m 0644 "$W/password" /etc/opr-lab/tor-password
    install -m 0644 "$W/opr-lab-fabric.service" /etc/systemd/system/
    install -m 0644 "$W/lab-node.conf" /etc/systemd/system/openperouter.service.d/
    systemctl daemon-reload
    systemctl enable openperouter opr-lab-fabric
    set +e
    systemctl is-enabled openperouter || bad "openperouter.service is not enabled"
}

switch_to_pathspace() {
    say "moving to Debian's pathspace instance frr@perouter as docs/host-mode.md says"
    set -e
    systemctl stop openperouter
    # The agent's own FRR goes with the router namespace (as the docs say to take it down).
    kill "$(cat /var/run/openperouter/frr/perouter/watchfrr.pid)"
    ip netns del perouter
    install -d /etc/frr/perouter
    install -m 0640 -o frr -g frr "$DIST/frr/perouter/daemons" /etc/frr/perouter/daemons
    printf 'service integrated-vtysh-config\n' >/etc/frr/perouter/vtysh.conf
    install -m 0644 "$DIST/systemd/openperouter-netns@.service" /etc/systemd/system/
    install -d /etc/systemd/system/frr@perouter.service.d
    install -m 0644 "$DIST/systemd/frr@perouter.service.d/openperouter.conf" /etc/systemd/system/frr@perouter.service.d/
    install -m 0644 "$DIST/systemd/openperouter.service.d/pathspace.conf" /etc/systemd/system/openperouter.service.d/
    systemctl daemon-reload
    systemctl enable openperouter-netns@perouter frr@perouter
    set +e
}

wait_ready() {
    local deadline=$(($(date +%s) + $1))
    until agent_ready; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            return 1
        fi
        sleep 0.3
    done
}

# The sessions that must be Established: the ToR, and the node's speaker in VRFs red and blue and
# through the passthrough (the lab's speaker has no IPv6 session, so red's IPv6 neighbor stays Active).
PEERS="192.168.11.2 192.169.10.2 192.169.11.2 192.169.30.2"

sessions() {
    # How many of $PEERS are Established (in any VRF and address family).
    local states
    states=$(vty -c 'show bgp vrf all summary json' 2>/dev/null |
        jq -r '.. | objects | select(has("peers")) | .peers | to_entries[] | "\(.key) \(.value.state)"' 2>/dev/null)
    local n=0 p
    for p in $PEERS; do
        if echo "$states" | grep -qx "$p Established"; then n=$((n + 1)); fi
    done
    echo "$n"
}

ping_ok() { ip netns exec "$PEER_HOST_NS" ping -c 3 -i 0.2 -W 1 "$POD" >/dev/null 2>&1; }

check_boot() {
    local full=$1
    say "waiting for the agent (openperouter.service, $mode FRR) to be Ready"
    if ! wait_ready 400; then
        bad "the agent is not Ready within 400 s of the check's start"
        diagnose
        return
    fi
    local ready_us
    ready_us=$(now_us)
    local agent_start fabric_up netns_up frr_up
    agent_start=$(prop openperouter ExecMainStartTimestampMonotonic)
    fabric_up=$(prop opr-lab-fabric ActiveEnterTimestampMonotonic)
    pass "agent Ready (openperouter.service started by systemd at boot, enabled: $(systemctl is-enabled openperouter))"
    echo "RESULT boot $BOOT_N $mode: kernel start → lab fabric up $(secs "$fabric_up") s → agent started $(secs "$agent_start") s → Ready ≤ $(secs "$ready_us") s (agent start → Ready ≤ $(secs $((ready_us - agent_start))) s)"
    # Order: the harness's fabric, then (pathspace) the router namespace, then FRR; the agent
    # after the fabric (its host namespace).
    if [ "$fabric_up" -gt 0 ] && [ "$fabric_up" -le "$agent_start" ]; then
        pass "order: lab fabric ($(secs "$fabric_up") s) before the agent ($(secs "$agent_start") s)"
    else
        bad "order: lab fabric active at $fabric_up µs, agent started at $agent_start µs"
    fi
    if [ "$mode" = pathspace ]; then
        netns_up=$(prop openperouter-netns@perouter ActiveEnterTimestampMonotonic)
        frr_start=$(prop frr@perouter ExecMainStartTimestampMonotonic)
        frr_up=$(prop frr@perouter ActiveEnterTimestampMonotonic)
        if [ "$netns_up" -gt 0 ] && [ "$netns_up" -le "$frr_start" ] && [ "$frr_up" -gt 0 ]; then
            pass "order: router namespace unit ($(secs "$netns_up") s) before frr@perouter ($(secs "$frr_start") s, active $(secs "$frr_up") s); agent $(secs "$agent_start") s"
        else
            bad "order: openperouter-netns@perouter active at $netns_up µs, frr@perouter started at $frr_start µs, active at $frr_up µs"
        fi
        [ "$(systemctl is-active frr@perouter)" = active ] || bad "frr@perouter is $(systemctl is-active frr@perouter)"
        [ "$(readlink /proc/"$(prop frr@perouter MainPID)"/ns/net)" = "$(ip netns exec perouter readlink /proc/self/ns/net)" ] ||
            bad "frr@perouter does not run in the router namespace perouter"
    else
        local watchfrr
        watchfrr=$(cat /var/run/openperouter/frr/perouter/watchfrr.pid 2>/dev/null)
        if [ -n "$watchfrr" ] && [ -d "/proc/$watchfrr" ]; then
            pass "order: the agent started FRR (watchfrr $watchfrr) in the router namespace"
        else
            bad "the agent's FRR is not running (no watchfrr pid in /var/run/openperouter/frr/perouter)"
        fi
    fi
    local deadline=$(($(date +%s) + 180)) n=0
    until n=$(sessions) && [ "$n" = 4 ] || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    if [ "$n" = 4 ]; then
        pass "BGP: the ToR (with its password), red, blue and passthrough sessions Established at $(secs "$(now_us)") s"
    else
        bad "BGP: $n of the 4 sessions ($PEERS) Established after 180 s"
        vty -c 'show bgp vrf all summary'
    fi
    local deadline=$(($(date +%s) + 90))
    until ping_ok || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    if ping_ok; then
        pass "traffic: leafA's host in VRF red ↔ node0's pod $POD over L3VNI 100"
    else
        bad "traffic: $PEER_HOST_NS cannot ping $POD over L3VNI 100"
    fi
    [ "$full" = full ] || return 0

    restart_drill
    stop_drill
    journal_checks
    if [ "$mode" = pathspace ]; then
        lock_drill
        netns_drill
    fi
}

netns_drill() {
    say "the router namespace is deleted and made again: the agent restarts frr@perouter into the new one (--frr-restart-unit)"
    local frr_before mac old_ns since
    frr_before=$(prop frr@perouter MainPID)
    # The lab's NIC is a veth: it dies with the old namespace, its switch port with it. Its MAC
    # address is kept, as a physical NIC's would be, when the drill plugs the cable in again.
    mac=$(ip -n perouter -o link show toswitch | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    if [ -z "$mac" ]; then
        bad "netns drill: no toswitch in the router namespace"
        return
    fi
    old_ns=$(ip netns exec perouter readlink /proc/self/ns/net)
    since=$(date +%s)
    ip netns exec "$PEER_HOST_NS" ping -q -i 0.3 -W 1 "$POD" >/tmp/ping-netns 2>&1 &
    local p=$! t0 tries=0
    sleep 2
    t0=$(now_us)
    # Back to back; should the agent give the name back to the old namespace in between, again.
    until ip netns del perouter 2>/dev/null; ip netns add perouter 2>/dev/null &&
        [ "$(ip netns exec perouter readlink /proc/self/ns/net)" != "$old_ns" ]; do
        tries=$((tries + 1))
        if [ "$tries" -ge 3 ]; then
            bad "netns drill: perouter keeps naming the old namespace"
            kill "$p" 2>/dev/null
            return
        fi
    done
    local deadline=$(($(date +%s) + 90))
    while ip -n "$LAB-switch" link show p-node0 >/dev/null 2>&1; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            bad "netns drill: the old namespace (its NIC) still lives 90 s after it was replaced: frr@perouter was not restarted"
            kill "$p" 2>/dev/null
            netns_journal "$since"
            return
        fi
        sleep 0.2
    done
    local t_gone t_ready t_up t_ping frr_after
    t_gone=$(now_us)
    ip link add toswitch netns "$NODE_NS" address "$mac" type veth peer name p-node0 netns "$LAB-switch"
    ip -n "$NODE_NS" addr add 192.168.11.3/24 dev toswitch
    ip -n "$NODE_NS" link set toswitch up
    ip -n "$LAB-switch" link set p-node0 master br0 up
    wait_ready 120 || bad "netns drill: the agent is not Ready 120 s after the NIC came back"
    t_ready=$(now_us)
    frr_after=$(prop frr@perouter MainPID)
    [ "$frr_after" != "$frr_before" ] || bad "netns drill: frr@perouter was not restarted (pid $frr_before)"
    [ "$(readlink /proc/"$frr_after"/ns/net)" = "$(ip netns exec perouter readlink /proc/self/ns/net)" ] ||
        bad "netns drill: frr@perouter does not run in the new router namespace"
    journalctl -u openperouter --since "@$since" --no-pager -o cat | grep -q "FRR's unit restarted" ||
        bad "netns drill: the agent's journal does not say it restarted FRR's unit"
    deadline=$(($(date +%s) + 180))
    local n=0
    until n=$(sessions) && [ "$n" = 4 ] || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    t_up=$(now_us)
    [ "$n" = 4 ] || bad "netns drill: $n of the 4 sessions Established 180 s after the namespace was replaced"
    deadline=$(($(date +%s) + 90))
    until ping_ok || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    t_ping=$(now_us)
    kill -INT "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    if ping_ok; then
        local sent got
        sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping-netns)
        got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' /tmp/ping-netns)
        pass "netns drill: frr@perouter restarted into the new namespace (pid $frr_before → $frr_after), sessions and traffic back"
        echo "RESULT boot $BOOT_N $mode: router namespace replaced → old one gone (NIC plugged in again) $(secs $((t_gone - t0))) s, agent Ready $(secs $((t_ready - t0))) s, 4 sessions $(secs $((t_up - t0))) s, pings through $(secs $((t_ping - t0))) s; probes every 300 ms lost $((${sent:-0} - ${got:-0})) of ${sent:-?}"
    else
        bad "netns drill: $PEER_HOST_NS cannot ping $POD 90 s after the sessions were back"
        cat /tmp/ping-netns
    fi
    netns_journal "$since"
}

netns_journal() {
    echo "-- the agent's and frr@perouter's journal since the namespace was replaced (where the time went):"
    journalctl -u openperouter -u frr@perouter --since "@$1" --no-pager -o short-monotonic | grep -v 'frrinit.sh.*memstats' | tail -n 80
}

lock_drill() {
    say "another session holds mgmtd's datastores: the agent restarts frr@perouter (--frr-restart-unit)"
    local frr_before
    frr_before=$(prop frr@perouter MainPID)
    # A vtysh that takes mgmtd's lock and never lets go (its input stays open), as a session
    # whose commit mgmtd never ends would.
    (
        echo 'configure terminal file-lock'
        exec sleep 900
    ) | "${VTYSH[@]}" >/tmp/lock-holder 2>&1 &
    local holder=$!
    local deadline=$(($(date +%s) + 20)) held=0
    until [ "$held" -gt 0 ] || [ "$(date +%s)" -gt "$deadline" ]; do
        sleep 0.5
        held=$(vty -c 'show mgmt frontend-adapter all' 2>/dev/null | grep -cE '^ +(running|candidate)$')
    done
    if [ "$held" = 0 ]; then
        bad "lock drill: the holding session did not get mgmtd's datastores"
        cat /tmp/lock-holder
        pkill -f 'sleep 900'
        kill "$holder" 2>/dev/null
        return
    fi
    pass "lock drill: a vtysh session holds mgmtd's running and candidate datastores"
    # A change for the agent to apply: a prefix-list, which mgmtd configures.
    local drill=/etc/openperouter/config/lock-drill.yaml t0 t1
    printf '%s\n' 'apiVersion: network.openperouter.io/v1alpha1' 'kind: RawFRRConfig' \
        'metadata: {name: lock-drill, namespace: openperouter-system}' \
        'spec: {rawConfig: "ip prefix-list opr-lock-drill seq 5 permit 10.99.0.0/16"}' >"$drill"
    t0=$(now_us)
    deadline=$(($(date +%s) + 240))
    until vty -c 'show running-config' 2>/dev/null | grep -q 'opr-lock-drill' || [ "$(date +%s)" -gt "$deadline" ]; do
        sleep 1
    done
    t1=$(now_us)
    local frr_after
    frr_after=$(prop frr@perouter MainPID)
    if vty -c 'show running-config' 2>/dev/null | grep -q 'opr-lock-drill'; then
        pass "lock drill: the change is in FRR $(secs $((t1 - t0))) s after it was written (frr@perouter pid $frr_before → $frr_after)"
        echo "RESULT boot $BOOT_N $mode: mgmtd locked by another session → change applied after restarting frr@perouter in $(secs $((t1 - t0))) s"
    else
        bad "lock drill: the change is not in FRR 240 s after it was written"
        journalctl -b --no-pager -o cat -u openperouter | tail -n 20
    fi
    [ "$frr_after" != "$frr_before" ] || bad "lock drill: frr@perouter was not restarted (pid $frr_before)"
    journalctl -b --no-pager -o cat -u openperouter | grep -q "restarting FRR's unit" ||
        bad "lock drill: the agent's journal does not say it restarted FRR's unit"
    pkill -f 'sleep 900'
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    deadline=$(($(date +%s) + 90))
    until ping_ok || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    ping_ok && pass "lock drill: traffic over L3VNI 100 again after FRR's restart" ||
        bad "lock drill: $PEER_HOST_NS cannot ping $POD 90 s after FRR's restart"
    # Back as it was: the snippet removed, the agent Ready.
    rm -f "$drill"
    deadline=$(($(date +%s) + 120))
    until ! vty -c 'show running-config' 2>/dev/null | grep -q 'opr-lock-drill' || [ "$(date +%s)" -gt "$deadline" ]; do
        sleep 1
    done
    vty -c 'show running-config' 2>/dev/null | grep -q 'opr-lock-drill' &&
        bad "lock drill: the removed snippet is still in FRR after 120 s"
    wait_ready 60 || bad "lock drill: the agent is not Ready after the snippet's removal"
}

quiet_kernel() {
    # Waits until neither monitor has printed anything for 16 s (a bridge port's forward delay is
    # 15 s), at most 90 s; then empties both files.
    local last="" n=0
    while [ $n -lt 90 ]; do
        local now
        now=$(cat /tmp/mon-router /tmp/mon-host | wc -c)
        if [ "$now" = "$last" ]; then
            quiet=$((quiet + 1))
        else
            quiet=0
            last=$now
        fi
        [ "$quiet" -ge 16 ] && break
        sleep 1
        n=$((n + 1))
    done
    : >/tmp/mon-router
    : >/tmp/mon-host
}

restart_drill() {
    say "systemctl restart openperouter under 100 ms probes, ip monitor in the router and host namespaces"
    ip -n perouter monitor link address route >>/tmp/mon-router 2>&1 &
    local m1=$!
    ip -n "$NODE_NS" monitor link address route >>/tmp/mon-host 2>&1 &
    local m2=$!
    quiet=0
    sleep 1
    if ! kill -0 "$m1" 2>/dev/null || ! kill -0 "$m2" 2>/dev/null; then
        bad "restart: ip monitor cannot watch the router or the host namespace:"
        cat /tmp/mon-router /tmp/mon-host
        return
    fi
    quiet_kernel
    ip netns exec "$PEER_HOST_NS" ping -q -i 0.1 -W 1 "$POD" >/tmp/ping-restart 2>&1 &
    local p=$!
    sleep 2
    local t0 t1
    t0=$(now_us)
    systemctl restart openperouter
    if wait_ready 120; then
        t1=$(now_us)
        pass "restart: the new agent is Ready $(secs $((t1 - t0))) s after systemctl restart"
        echo "RESULT boot $BOOT_N $mode: systemctl restart → Ready $(secs $((t1 - t0))) s"
    else
        bad "restart: the agent is not Ready within 120 s of systemctl restart"
        diagnose
    fi
    # The new agent's first reconciles run; the drill watches 5 s more.
    sleep 5
    kill -INT "$p"
    wait "$p"
    kill "$m1" "$m2"
    wait "$m1" "$m2" 2>/dev/null
    local sent got
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping-restart)
    got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' /tmp/ping-restart)
    if [ -n "$sent" ] && [ "$sent" -gt 50 ] && [ "$sent" = "$got" ]; then
        pass "restart: 0 of $sent probes lost"
    else
        bad "restart: ${got:-?} of ${sent:-?} probes answered"
        cat /tmp/ping-restart
    fi
    local writes
    writes=$(cat /tmp/mon-router /tmp/mon-host | grep -c .)
    if [ "$writes" = 0 ]; then
        pass "restart: 0 kernel changes in the router and host namespaces (links, addresses, routes)"
    else
        bad "restart: $writes kernel changes seen by ip monitor:"
        sed 's/^/  router: /' /tmp/mon-router | head -n 20
        sed 's/^/  host:   /' /tmp/mon-host | head -n 20
    fi
    local last
    last=$(journalctl -b --no-pager -o cat -u openperouter | grep 'reconcile #' | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
    case "$last" in
    *"Ready=True"*"kernel_writes=0"*) pass "restart: the new agent's last reconcile: $last" ;;
    *) bad "restart: the new agent's last reconcile is not Ready without kernel writes: $last" ;;
    esac
}

stop_drill() {
    say "systemctl stop openperouter: forwarding stays"
    systemctl stop openperouter
    local state
    state=$(systemctl is-active openperouter)
    [ "$state" = inactive ] || bad "stop: openperouter.service is $state"
    sleep 2
    local out
    out=$(ip netns exec "$PEER_HOST_NS" ping -q -c 30 -i 0.1 -W 1 "$POD" 2>&1)
    if echo "$out" | grep -q ' 0% packet loss'; then
        pass "stop: agent stopped, 30 of 30 probes answered; FRR and the kernel state stay"
    else
        bad "stop: with the agent stopped: $out"
    fi
    systemctl start openperouter
    wait_ready 120 || bad "the agent is not Ready again after systemctl start"
}

journal_checks() {
    local log
    log=$(journalctl -b --no-pager -o cat -u openperouter)
    if echo "$log" | grep -q 'serving /healthz' && echo "$log" | grep -q 'reconcile #1: Ready=True'; then
        pass "journal: the agent's log lines are in journalctl -u openperouter ($(echo "$log" | wc -l) lines)"
    else
        bad "journal: the agent's lines are missing from journalctl -u openperouter"
        echo "$log" | tail -n 20
    fi
    local secret
    secret=$(cat /etc/openperouter/secrets/tor-bgp/password)
    local leaks
    leaks=$(journalctl -b --no-pager -o cat | grep -cF -- "$secret")
    if [ "$leaks" = 0 ]; then
        pass "journal: the BGP password appears nowhere in this boot's journal"
    else
        bad "journal: the BGP password appears in $leaks journal lines"
    fi
    if ip netns exec "$NODE_NS" openperouter status --agent 127.0.0.1:9081 -o json 2>/dev/null | grep -qF -- "$secret"; then
        bad "status: the BGP password appears in the agent's status"
    fi
    # The session really uses it: FRR's running configuration carries the neighbor's password.
    if vty -c 'show running-config' 2>/dev/null | grep -q 'neighbor 192.168.11.2 password'; then
        pass "the ToR session is authenticated (neighbor 192.168.11.2 password …, read from /etc/openperouter/secrets)"
    else
        bad "FRR's configuration has no password for the ToR"
    fi
}

say "systemd $(systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1: $(cat /proc/1/comm)"
[ "$(cat /proc/1/comm)" = systemd ] || bad "PID 1 is $(cat /proc/1/comm), not systemd"
case "$phase" in
install)
    install_managed
    ;;
check)
    if [ -n "$switch" ]; then check_boot quick; else check_boot full; fi
    if [ -n "$switch" ] && [ "$fail" = 0 ]; then switch_to_pathspace; fi
    ;;
*)
    bad "unknown phase $phase"
    ;;
esac
save_upper
say "done: $([ "$fail" = 0 ] && echo passed || echo FAILED)"
exit "$fail"
