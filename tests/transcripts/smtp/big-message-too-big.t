# Past confMAX_MESSAGE_SIZE the rest of the message is read and dropped,
# and the message is refused at its end (552 5.2.3); what was spilled is
# dropped with it, and the next message of the session is taken.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# define: confMAX_MESSAGE_SIZE=500000
# client: 198.51.100.20 mail.example.net
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO mail.example.net
< 250-mx.example.com Hello mail.example.net [198.51.100.20], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 500000
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

> Subject: too large
>
>* 900000
> .
L SESSION: relay=mail.example.net [198.51.100.20]: reject=552 5.2.3 Message size exceeds fixed maximum message size (500000)
< 552 5.2.3 Message size exceeds fixed maximum message size (500000)

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: fine
>
>* 300000
> .
C 601000002004242 Queue from=<alice@example.net> to=<user@example.com>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by mx.example.com (mxgate/0.1.0) with ESMTP id 601000002004242
C | 	for <user@example.com>; Thu, 1 Jan 2026 00:00:00 +0000
C   (196581 bytes spilled, 103443 in memory)
L 601000002004242: from=<alice@example.net>, size=300214, class=0, nrcpts=1, msgid=, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000002004242 Message accepted for delivery

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
