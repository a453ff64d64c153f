# A message from an outside server to one of our users, one command at a time.
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

> MAIL FROM:<alice@example.net> SIZE=300
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> From: alice@example.net
> To: bob@example.gr.jp
> Subject: hello
> Message-ID: <1@example.net>
>
> Hi Bob.
> .
C 601000001004242 Queue from=<alice@example.net> to=<bob@example.gr.jp>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by gateway.example.gr.jp (mxgate/0.1.0) with ESMTP id 601000001004242
C | 	for <bob@example.gr.jp>; Thu, 1 Jan 2026 00:00:00 +0000
L 601000001004242: from=<alice@example.net>, size=302, class=0, nrcpts=1, msgid=<1@example.net>, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000001004242 Message accepted for delivery

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
