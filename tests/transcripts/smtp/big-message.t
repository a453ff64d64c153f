# A message larger than what a session keeps in memory (128 KiB) goes to
# a scratch file in the spool as it arrives and is committed from there,
# byte for byte, dot-stuffing undone.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 198.51.100.20 mail.example.net
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO mail.example.net
< 250-mx.example.com Hello mail.example.net [198.51.100.20], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10240000
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: a large one
> Message-ID: <big@example.net>
>
>* 700000
> .
C 601000001004242 Queue from=<alice@example.net> to=<user@example.com>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by mx.example.com (mxgate/0.1.0) with ESMTP id 601000001004242
C | 	for <user@example.com>; Thu, 1 Jan 2026 00:00:00 +0000
C   (700072 bytes spilled, 0 in memory)
L 601000001004242: from=<alice@example.net>, size=700262, class=0, nrcpts=1, msgid=<big@example.net>, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000001004242 Message accepted for delivery

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
