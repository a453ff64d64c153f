# FEATURE(dnsbl) without its 't' argument: a blocklist that does not
# answer lets the client pass (sendmail's dnsbl.m4 default).
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 198.51.100.98 slow.example.net
# dnsbl: 98.100.51.198.bl.example.net tempfail
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO slow.example.net
< 250-mx.example.com Hello slow.example.net [198.51.100.98], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10240000
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<x@example.net>
< 250 2.1.0 <x@example.net>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
