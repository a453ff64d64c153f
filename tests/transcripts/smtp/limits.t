# Size and recipient limits: SIZE= over confMAX_MESSAGE_SIZE is refused at
# MAIL (552 5.2.3), a body over it at the end of DATA; recipients past
# confMAX_RCPTS_PER_MESSAGE get 452 4.5.3 (the client sends them again).
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# define: confMAX_MESSAGE_SIZE=120
# define: confMAX_RCPTS_PER_MESSAGE=2
# client: 198.51.100.20 mail.example.net
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO mail.example.net
< 250-mx.example.com Hello mail.example.net [198.51.100.20], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 120
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<alice@example.net> SIZE=5000
L SESSION: ruleset=check_mail, arg1=<alice@example.net>, relay=mail.example.net [198.51.100.20], reject=552 5.2.3 Message size exceeds fixed maximum message size
< 552 5.2.3 Message size exceeds fixed maximum message size

> MAIL FROM:<alice@example.net> SIZE=100
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<a@example.com>
> RCPT TO:<b@example.com>
> RCPT TO:<c@example.com>
< 250 2.1.5 <a@example.com>... Recipient ok
< 250 2.1.5 <b@example.com>... Recipient ok
L SESSION: ruleset=check_rcpt, arg1=<c@example.com>, relay=mail.example.net [198.51.100.20], reject=452 4.5.3 Too many recipients
< 452 4.5.3 Too many recipients

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: a body that is longer than one hundred and twenty octets in all
>
> 0123456789012345678901234567890123456789012345678901234567890123456789
> .
L SESSION: relay=mail.example.net [198.51.100.20]: reject=552 5.2.3 Message size exceeds fixed maximum message size (120)
< 552 5.2.3 Message size exceeds fixed maximum message size (120)

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
