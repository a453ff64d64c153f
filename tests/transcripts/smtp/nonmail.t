# Too many commands that move no mail (confMXGATE_MAX_NONMAIL_COMMANDS):
# 421 4.7.0 and the connection is closed; MAIL starts the count again.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# define: confMXGATE_MAX_NONMAIL_COMMANDS=3
# client: 198.51.100.20 mail.example.net
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO mail.example.net
< 250-mx.example.com Hello mail.example.net [198.51.100.20], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10240000
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> NOOP
< 250 2.0.0 OK

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RSET
< 250 2.0.0 Reset state

> NOOP
< 250 2.0.0 OK

> NOOP
< 250 2.0.0 OK

> NOOP
L SESSION: relay=mail.example.net [198.51.100.20]: possible SMTP attack: reject=421 4.7.0 mx.example.com Too many non-mail commands; closing connection
< 250 2.0.0 OK
< 421 4.7.0 mx.example.com Too many non-mail commands; closing connection
~ closed
