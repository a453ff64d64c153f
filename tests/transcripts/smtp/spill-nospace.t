# The disk fills while a large message is being received: the rest of it
# is read and dropped, and the client gets 452 4.3.1 at its end, so it
# keeps the message and tries again later.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# commit: spill-nospace
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

> Subject: large, disk full
>
>* 400000
> .
L SESSION: relay=mail.example.net [198.51.100.20]: spool full, message not accepted
< 452 4.3.1 Insufficient disk space; try again later

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
