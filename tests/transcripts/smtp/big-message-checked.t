# A large message where header rules apply: it is read back from the
# scratch file for the content checks, refused by a rule in one case,
# committed in the other.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# client: 198.51.100.20 mail.example.net
< 220 gateway.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO mail.example.net
< 250-gateway.example.gr.jp Hello mail.example.net [198.51.100.20], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: Make Money Fast
>
>* 400000
> .
~ read back 393157 bytes
L SESSION: reject: header Subject: Make Money Fast from mail.example.net[198.51.100.20]; from=<alice@example.net> to=<bob@example.gr.jp> proto=ESMTP helo=<mail.example.net>: 5.7.1 Message content rejected
L SESSION: relay=mail.example.net [198.51.100.20]: header rule CFDIR/header_checks:3: /^Subject: .*Make Money Fast/		REJECT: reject=550 5.7.1 Message content rejected
< 550 5.7.1 Message content rejected

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: a large report
>
>* 400000
> .
~ read back 393156 bytes
C 601000002004242 Queue from=<alice@example.net> to=<bob@example.gr.jp>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by gateway.example.gr.jp (mxgate/0.1.0) with ESMTP id 601000002004242
C | 	for <bob@example.gr.jp>; Thu, 1 Jan 2026 00:00:00 +0000
L 601000002004242: from=<alice@example.net>, size=400235, class=0, nrcpts=1, msgid=, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000002004242 Message accepted for delivery

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
