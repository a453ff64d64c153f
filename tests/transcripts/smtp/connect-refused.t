# check_relay (no delay_checks): a client in a rejected network is told at
# the greeting (554) and every command but RSET, NOOP and QUIT gets the
# refusal again, as sendmail 8.17 answers.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 203.0.113.5 host.example.org
L SESSION: ruleset=check_relay, arg1=host.example.org, arg2=203.0.113.5, relay=host.example.org [203.0.113.5], reject=550 5.7.1 Access denied
< 554 mx.example.com ESMTP not accepting messages
> EHLO host.example.org
< 550 5.7.1 Access denied

> MAIL FROM:<a@example.org>
< 550 5.7.1 Access denied

> NOOP
< 250 2.0.0 OK

> RSET
< 250 2.0.0 Reset state

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
