# SMTP smuggling: a bare LF before the dot ends nothing; the message is
# refused whole (550 5.6.2), so no second message hides in it.
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

>~ Subject: one\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.gr.jp>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n
L SESSION: relay=mail.example.net [198.51.100.20]: reject=550 5.6.2 Message contains bare CR or LF; refused (SMTP smuggling protection)
< 550 5.6.2 Message contains bare CR or LF; refused (SMTP smuggling protection)

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
