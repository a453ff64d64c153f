# A client that says nothing for confTO_COMMAND gets 421 4.4.2 (sendmail's
# "Lost input channel") and the session ends.
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

~ idle 200
> NOOP
< 250 2.0.0 OK

~ idle 400
L SESSION: timeout waiting for input from mail.example.net [198.51.100.20] during server cmd read
< 421 4.4.2 gateway.example.gr.jp Lost input channel: timeout waiting for input
~ closed
L SESSION: mail.example.net [198.51.100.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA
