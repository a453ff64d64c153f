# RFC 2920: a client sends the whole transaction in one packet; every
# command is answered, in order, and 250 after DATA only once committed.
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
> RCPT TO:<bob@example.gr.jp>
> RCPT TO:<nobody@outside.example>
> RCPT TO:<carol@example.gr.jp>
> DATA
> Subject: two of three
>
> body
> .
> MAIL FROM:<alice@example.net>
> RCPT TO:<bob@example.gr.jp>
> DATA
> Subject: second
>
> body
> .
> QUIT
< 250 2.1.0 <alice@example.net>... Sender ok
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok
L SESSION: ruleset=check_rcpt, arg1=<nobody@outside.example>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <nobody@outside.example>... Relaying denied
< 550 5.7.1 <nobody@outside.example>... Relaying denied
< 250 2.1.5 <carol@example.gr.jp>... Recipient ok
< 354 Enter mail, end with "." on a line by itself
C 601000001004242 Queue from=<alice@example.net> to=<bob@example.gr.jp>,<carol@example.gr.jp>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by gateway.example.gr.jp (mxgate/0.1.0) with ESMTP id 601000001004242; Thu, 1 Jan 2026 00:00:00 +0000
L 601000001004242: from=<alice@example.net>, size=203, class=0, nrcpts=2, msgid=, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000001004242 Message accepted for delivery
< 250 2.1.0 <alice@example.net>... Sender ok
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok
< 354 Enter mail, end with "." on a line by itself
C 601000002004242 Queue from=<alice@example.net> to=<bob@example.gr.jp>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by gateway.example.gr.jp (mxgate/0.1.0) with ESMTP id 601000002004242
C | 	for <bob@example.gr.jp>; Thu, 1 Jan 2026 00:00:00 +0000
L 601000002004242: from=<alice@example.net>, size=223, class=0, nrcpts=1, msgid=, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000002004242 Message accepted for delivery
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
