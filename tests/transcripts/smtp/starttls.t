# STARTTLS: offered when a certificate is configured; after the handshake
# the client starts over (EHLO again, no STARTTLS offered), a second
# STARTTLS is refused, and the Received: line records the cipher.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# tls: available
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
< 250-STARTTLS
< 250-ETRN
< 250 HELP

> STARTTLS
< 220 2.0.0 Ready to start TLS
~ tls
L SESSION: STARTTLS=server, relay=mail.example.net [198.51.100.20], version=TLSv1.3, verify=NO, cipher=TLS13_AES_256_GCM_SHA384, bits=256/256

> MAIL FROM:<alice@example.net>
< 503 5.0.0 Polite people say HELO first

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

> STARTTLS
< 503 5.5.1 TLS already active

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: over TLS
>
> body
> .
C 601000001004242 Queue from=<alice@example.net> to=<bob@example.gr.jp>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTPS
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by gateway.example.gr.jp (mxgate/0.1.0) with ESMTPS id 601000001004242
C | 	(version=TLSv1.3 cipher=TLS13_AES_256_GCM_SHA384 verify=NO)
C | 	for <bob@example.gr.jp>; Thu, 1 Jan 2026 00:00:00 +0000
L 601000001004242: from=<alice@example.net>, size=288, class=0, nrcpts=1, msgid=, proto=ESMTPS, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000001004242 Message accepted for delivery

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
