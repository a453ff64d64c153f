# Connect: QUARANTINE: the session's messages are held with the reason.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 203.0.113.8 host.example.org
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO host.example.org
< 250-mx.example.com Hello host.example.org [203.0.113.8], pleased to meet you
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

> Subject: held
>
> x
> .
C 601000001004242 Quarantine from=<a@example.org> to=<user@example.com>
C   helo=host.example.org
C   client-addr=203.0.113.8
C   client-name=host.example.org
C   proto=ESMTP
C   daemon=MTA
C   quarantine=held for review
C | Received: from host.example.org (host.example.org [203.0.113.8])
C | 	by mx.example.com (mxgate/0.1.0) with ESMTP id 601000001004242
C | 	for <user@example.com>; Thu, 1 Jan 2026 00:00:00 +0000
L 601000001004242: from=<a@example.org>, size=208, class=0, nrcpts=1, msgid=, proto=ESMTP, daemon=MTA, relay=host.example.org [203.0.113.8], quarantine=held for review
< 250 2.0.0 601000001004242 Message accepted for delivery

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
