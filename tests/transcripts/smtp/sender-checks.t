# check_mail without delay_checks: From: REJECT and ERROR: at MAIL; the
# sender's domain must exist (553 5.1.8; 451 4.1.8 when DNS fails); an
# address literal as the sender's domain is refused; the null sender is
# taken; with FEATURE(blacklist_recipients), To: REJECT at RCPT.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 198.51.100.20 mail.example.net
# dns: nowhere.example notfound
# dns: broken.example tempfail
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

> MAIL FROM:<spam@example.org>
L SESSION: ruleset=check_mail, arg1=<spam@example.org>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <spam@example.org>... Access denied
< 550 5.7.1 <spam@example.org>... Access denied

> MAIL FROM:<x@later.example.org>
L SESSION: ruleset=check_mail, arg1=<x@later.example.org>, relay=mail.example.net [198.51.100.20], reject=451 4.7.1 Try again later
< 451 4.7.1 Try again later

> MAIL FROM:<x@nowhere.example>
L SESSION: ruleset=check_mail, arg1=<x@nowhere.example>, relay=mail.example.net [198.51.100.20], reject=553 5.1.8 <x@nowhere.example>... Domain of sender address x@nowhere.example does not exist
< 553 5.1.8 <x@nowhere.example>... Domain of sender address x@nowhere.example does not exist

> MAIL FROM:<x@broken.example>
L SESSION: ruleset=check_mail, arg1=<x@broken.example>, relay=mail.example.net [198.51.100.20], reject=451 4.1.8 Domain of sender address x@broken.example does not resolve
< 451 4.1.8 Domain of sender address x@broken.example does not resolve

> MAIL FROM:<x@[198.51.100.20]>
L SESSION: ruleset=check_mail, arg1=<x@[198.51.100.20]>, relay=mail.example.net [198.51.100.20], reject=553 5.1.8 <x@[198.51.100.20]>... Domain of sender address x@[198.51.100.20] does not exist
< 553 5.1.8 <x@[198.51.100.20]>... Domain of sender address x@[198.51.100.20] does not exist

> MAIL FROM:<>
< 250 2.1.0 <>... Sender ok

> RCPT TO:<nobody@example.com>
L SESSION: ruleset=check_rcpt, arg1=<nobody@example.com>, relay=mail.example.net [198.51.100.20], reject=550 5.2.1 <nobody@example.com>... Mailbox disabled for this recipient
< 550 5.2.1 <nobody@example.com>... Mailbox disabled for this recipient

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
