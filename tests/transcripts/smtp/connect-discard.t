# Connect: DISCARD: every message of the session is accepted and dropped;
# QUARANTINE holds them (the quarantine/ state, with the reason).
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 203.0.113.7 host.example.org
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO host.example.org
< 250-mx.example.com Hello host.example.org [203.0.113.7], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10240000
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<a@example.org>
< 250 2.1.0 <a@example.org>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: dropped
>
> x
> .
L SESSION: from=<a@example.org>, size=23, nrcpts=1, relay=host.example.org [203.0.113.7], discarded (access `Connect:203.0.113.7` → DISCARD)
< 250 2.0.0 Message accepted for delivery

> MAIL FROM:<a@example.org>
< 250 2.1.0 <a@example.org>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: dropped too
>
> x
> .
L SESSION: from=<a@example.org>, size=27, nrcpts=1, relay=host.example.org [203.0.113.7], discarded (access `Connect:203.0.113.7` → DISCARD)
< 250 2.0.0 Message accepted for delivery

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
