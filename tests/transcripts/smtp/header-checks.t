# Header rules (Postfix header_checks semantics): REJECT with and without
# text, DISCARD; the rest of the session goes on.
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

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: Make Money Fast
>
> body
> .
L SESSION: reject: header Subject: Make Money Fast from mail.example.net[198.51.100.20]; from=<alice@example.net> to=<bob@example.gr.jp> proto=ESMTP helo=<mail.example.net>: 5.7.1 Message content rejected
L SESSION: relay=mail.example.net [198.51.100.20]: header rule CFDIR/header_checks:3: /^Subject: .*Make Money Fast/		REJECT: reject=550 5.7.1 Message content rejected
< 550 5.7.1 Message content rejected

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: cheap VIAGRA here
>
> body
> .
L SESSION: reject: header Subject: cheap VIAGRA here from mail.example.net[198.51.100.20]; from=<alice@example.net> to=<bob@example.gr.jp> proto=ESMTP helo=<mail.example.net>: 5.7.1 Spam not accepted
L SESSION: relay=mail.example.net [198.51.100.20]: header rule CFDIR/header_checks:4: /^Subject: .*viagra/			REJECT Spam not accepted: reject=550 5.7.1 Spam not accepted
< 550 5.7.1 Spam not accepted

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> X-Mailer: Mass Mailer 2.0
> Subject: hello
>
> body
> .
L SESSION: discard: header X-Mailer: Mass Mailer 2.0 from mail.example.net[198.51.100.20]; from=<alice@example.net> to=<bob@example.gr.jp> proto=ESMTP helo=<mail.example.net>: rule CFDIR/header_checks:5
L SESSION: from=<alice@example.net>, size=51, nrcpts=1, relay=mail.example.net [198.51.100.20], discarded (header rule CFDIR/header_checks:5)
< 250 2.0.0 Message accepted for delivery

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
