# The other commands: NOOP, RSET, VRFY and EXPN (never answered), HELP,
# ETRN, commands out of order, unknown commands and bad syntax, AUTH where
# it is not offered.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# client: 198.51.100.20 mail.example.net
< 220 gateway.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> NOOP
< 250 2.0.0 OK

> MAIL FROM:<alice@example.net>
< 503 5.0.0 Polite people say HELO first

> HELO mail.example.net
< 250 gateway.example.gr.jp Hello mail.example.net [198.51.100.20], pleased to meet you

> RCPT TO:<bob@example.gr.jp>
< 503 5.0.0 Need MAIL before RCPT

> DATA
< 503 5.0.0 Need MAIL command

> VRFY bob
L SESSION: mail.example.net [198.51.100.20]: VRFY bob [rejected]
< 252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)

> EXPN staff
L SESSION: mail.example.net [198.51.100.20]: EXPN staff [rejected]
< 502 5.7.0 Sorry, we do not allow this operation

> HELP
< 214-2.0.0 This is mxgate; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH
< 214 2.0.0 End of HELP info

> ETRN example.net
~ queue run
L SESSION: mail.example.net [198.51.100.20]: ETRN example.net
< 250 2.0.0 Queuing for node example.net started

> FOO bar
< 500 5.5.1 Command unrecognized: "FOO bar"

> MAIL FROM:alice@example.net
< 250 2.1.0 <alice@example.net>... Sender ok

> MAIL FROM:<alice@example.net> BOGUS=1
< 555 5.5.4 BOGUS parameter unrecognized

> MAIL FROM:<alice@example.net>
< 503 5.5.0 Sender already specified

> MAIL FROM:<alice@example.net>
< 503 5.5.0 Sender already specified

> RCPT TO:<bob@example.gr.jp> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.gr.jp
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> RSET
< 250 2.0.0 Reset state

> DATA
< 503 5.0.0 Need MAIL command

> GET / HTTP/1.0
< 500 5.5.1 Command unrecognized: "GET / HTTP/1.0"

> AUTH PLAIN AGFsaWNlAHNlY3JldA==
< 503 5.3.3 AUTH mechanism not available

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
