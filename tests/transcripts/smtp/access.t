# access_db with delay_checks friend (sendmail 8.17, spec 2.5): a refused
# sender (REJECT, ERROR:) is told at each RCPT, not at MAIL; Spam:postmaster@
# FRIEND opens postmaster of this host's names (class w) but not of the
# relayed domain; To: REJECT; From: DISCARD takes the message and drops it.
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

> MAIL FROM:<spam@example.com>
< 250 2.1.0 <spam@example.com>... Sender ok

> RCPT TO:<bob@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<bob@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <bob@example.gr.jp>... Access denied
< 550 5.7.1 <bob@example.gr.jp>... Access denied

> RCPT TO:<postmaster@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<postmaster@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <postmaster@example.gr.jp>... Access denied
< 550 5.7.1 <postmaster@example.gr.jp>... Access denied

> RCPT TO:<postmaster@gateway.example.gr.jp>
< 250 2.1.5 <postmaster@gateway.example.gr.jp>... Recipient ok

> RSET
< 250 2.0.0 Reset state

> MAIL FROM:<someone@cyber.example.com>
< 250 2.1.0 <someone@cyber.example.com>... Sender ok

> RCPT TO:<bob@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<bob@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=551 5.7.1 Relay denied
< 551 5.7.1 Relay denied

> RSET
< 250 2.0.0 Reset state

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bogus_user@example.gr.jp>
< 250 2.1.5 <bogus_user@example.gr.jp>... Recipient ok

> RSET
< 250 2.0.0 Reset state

> MAIL FROM:<liar@forged.example.org>
< 250 2.1.0 <liar@forged.example.org>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: discarded
>
> body
> .
L SESSION: from=<liar@forged.example.org>, size=28, nrcpts=1, relay=mail.example.net [198.51.100.20], discarded (access `From:forged.example.org` → DISCARD)
< 250 2.0.0 Message accepted for delivery

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
