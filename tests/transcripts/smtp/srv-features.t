# Srv_Features: for this client turn PIPELINING, DSN and ETRN off (P D E):
# EHLO does not offer them and ETRN is refused.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 198.51.100.77 mail.example.net
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO mail.example.net
< 250-mx.example.com Hello mail.example.net [198.51.100.77], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-8BITMIME
< 250-SIZE 10240000
< 250-SMTPUTF8
< 250-CHUNKING
< 250 HELP

> ETRN example.net
< 502 5.7.0 Sorry, we do not allow this operation

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
