# A header longer than confMAX_HEADERS_LENGTH (sendmail's MaxHeadersLength,
# default 32768) is refused once the message is in, with sendmail 8.17's
# reply (checked with sendmail -bs: 552 5.6.0 Headers too large (32768
# max)) and its log line; the session goes on.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# define: confMAX_HEADERS_LENGTH=100
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

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: a header of more than a hundred bytes
> X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
>
> body
> .
L SESSION: headers too large (100 max) from mail.example.net during message collect
< 552 5.6.0 Headers too large (100 max)

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
