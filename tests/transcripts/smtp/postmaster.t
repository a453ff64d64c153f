# RFC 5321 4.5.1: Postmaster, in any case and without a domain, is accepted.
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

> RCPT TO:<Postmaster>
< 250 2.1.5 <Postmaster>... Recipient ok

> RCPT TO:<POSTMASTER>
< 250 2.1.5 <POSTMASTER>... Recipient ok

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
