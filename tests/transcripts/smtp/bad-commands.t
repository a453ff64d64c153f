# Too many bad commands (confMXGATE_MAX_BAD_COMMANDS): 421 4.7.0 and the
# connection is closed, logged as sendmail's "possible SMTP attack".
# site: cf/gateway/gateway.mc
# tables: access mailertable
# define: confMXGATE_MAX_BAD_COMMANDS=3
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

> XYZZY 1
< 500 5.5.1 Command unrecognized: "XYZZY 1"

> XYZZY 2
< 500 5.5.1 Command unrecognized: "XYZZY 2"

> XYZZY 3
< 500 5.5.1 Command unrecognized: "XYZZY 3"

> XYZZY 4
L SESSION: relay=mail.example.net [198.51.100.20]: possible SMTP attack: reject=421 4.7.0 gateway.example.gr.jp Too many bad commands; closing connection
< 500 5.5.1 Command unrecognized: "XYZZY 4"
< 421 4.7.0 gateway.example.gr.jp Too many bad commands; closing connection
~ closed
L SESSION: mail.example.net [198.51.100.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA
