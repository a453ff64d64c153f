# A 4xx Connect: refusal other than 421: every command is temp-failed.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 203.0.113.9 host.example.org
L SESSION: ruleset=check_relay, arg1=host.example.org, arg2=203.0.113.9, relay=host.example.org [203.0.113.9], reject=450 4.3.0 Maintenance
< 554 mx.example.com ESMTP not accepting messages
> EHLO host.example.org
< 450 4.3.0 Maintenance

> MAIL FROM:<a@example.org>
< 450 4.3.0 Maintenance

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
