# FEATURE(dnsbl) bl.example.net without delay_checks: the list is asked in
# check_relay, so a listed client is refused from the greeting on, with the
# list's text; RSET, NOOP and QUIT still work.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 198.51.100.99 listed.example.net
# dnsbl: 99.100.51.198.bl.example.net 127.0.0.2
L SESSION: ruleset=check_relay, arg1=listed.example.net, arg2=198.51.100.99, relay=listed.example.net [198.51.100.99], reject=550 5.7.1 Rejected: 198.51.100.99 listed at bl.example.net
< 554 mx.example.com ESMTP not accepting messages
> EHLO listed.example.net
< 550 5.7.1 Rejected: 198.51.100.99 listed at bl.example.net

> MAIL FROM:<x@example.net>
< 550 5.7.1 Rejected: 198.51.100.99 listed at bl.example.net

> RCPT TO:<user@example.com>
< 550 5.7.1 Rejected: 198.51.100.99 listed at bl.example.net

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
