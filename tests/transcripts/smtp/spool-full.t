# No room in the spool (confMIN_FREE_BLOCKS, confMAX_QUEUE): new messages
# get 452 4.3.1 at MAIL and at DATA, so clients retry later.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# room: full
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
L SESSION: relay=mail.example.net [198.51.100.20]: rejecting new messages: reject=452 4.3.1 Insufficient disk space; try again later
< 452 4.3.1 Insufficient disk space; try again later

> DATA
< 503 5.0.0 Need MAIL command

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
