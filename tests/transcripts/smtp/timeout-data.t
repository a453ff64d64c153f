# A message transfer must be complete within confMXGATE_TO_DATA of its
# first octet, however the client spaces its blocks.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# define: confMXGATE_TO_DATA=120s
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

> Subject: slow

~ idle 50
> line one

~ idle 50
> line two

~ idle 50
L SESSION: relay=mail.example.net [198.51.100.20]: timeout exceeded during message data: message transfer not complete within 120s, reject=421 4.4.2 gateway.example.gr.jp Error: timeout exceeded
< 421 4.4.2 gateway.example.gr.jp Error: timeout exceeded
~ closed
