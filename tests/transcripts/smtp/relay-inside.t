# A host of the inside network (access Connect:192.0.2 RELAY) may relay out.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# client: 192.0.2.25 dist-in.example.gr.jp
< 220 gateway.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO dist-in.example.gr.jp
< 250-gateway.example.gr.jp Hello dist-in.example.gr.jp [192.0.2.25], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<user@example.gr.jp>
< 250 2.1.0 <user@example.gr.jp>... Sender ok

> RCPT TO:<friend@outside.example>
< 250 2.1.5 <friend@outside.example>... Recipient ok

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
