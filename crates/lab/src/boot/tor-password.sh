# Test harness of the boot lane: the ToR's session towards node0 gets the password the node reads
# from /etc/openperouter/secrets/tor-bgp/password (given here on vtysh's command line, not logged).
exec vtysh --vty_socket /run/openperouter-lab/b/tor/run -c 'configure terminal' -c 'router bgp 64512' \
    -c "neighbor 192.168.11.3 password $(cat /etc/opr-lab/tor-password)" >/dev/null
