# A sender written with the trailing dot of a canonical name. Checked on
# sendmail 8.17 (tests/fixtures/sendmail-verify/t2.mc, -bs, and -bt
# check_mail with {client_addr} 172.16.0.1):
#   MAIL FROM:<joe@localhost.>  → 250 2.1.0 <joe@localhost.>... Sender ok,
#                                 queued as `S<joe@localhost.>` (the dot kept)
#   MAIL FROM:<joe@localhost>   → 553 5.5.4 Real domain name required
#   MAIL FROM:<joe@nonexist.invalid.> → 553 5.1.8.
# (`<joe@localhost.example.com.>`, accepted through the hosts file, depends
# on $m and is in tests/policy.rs.)
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 198.51.100.20 mail.example.net
# dns: nowhere.example.com notfound
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

> MAIL FROM:<joe@localhost>
L SESSION: ruleset=check_mail, arg1=<joe@localhost>, relay=mail.example.net [198.51.100.20], reject=553 5.5.4 <joe@localhost>... Real domain name required for sender address
< 553 5.5.4 <joe@localhost>... Real domain name required for sender address

> MAIL FROM:<joe@nowhere.example.com.>
L SESSION: ruleset=check_mail, arg1=<joe@nowhere.example.com.>, relay=mail.example.net [198.51.100.20], reject=553 5.1.8 <joe@nowhere.example.com.>... Domain of sender address joe@nowhere.example.com does not exist
< 553 5.1.8 <joe@nowhere.example.com.>... Domain of sender address joe@nowhere.example.com does not exist

> RSET
< 250 2.0.0 Reset state

> MAIL FROM:<joe@LocalHost.>
< 250 2.1.0 <joe@LocalHost.>... Sender ok

> RCPT TO:<user@example.com>
< 250 2.1.5 <user@example.com>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Subject: dot
>
> hi
> .
C 601000001004242 Queue from=<joe@LocalHost.> to=<user@example.com>
C   helo=mail.example.net
C   client-addr=198.51.100.20
C   client-name=mail.example.net
C   proto=ESMTP
C   daemon=MTA
C | Received: from mail.example.net (mail.example.net [198.51.100.20])
C | 	by mx.example.com (mxgate/0.1.0) with ESMTP id 601000001004242
C | 	for <user@example.com>; Thu, 1 Jan 2026 00:00:00 +0000
L 601000001004242: from=<joe@LocalHost.>, size=210, class=0, nrcpts=1, msgid=, proto=ESMTP, daemon=MTA, relay=mail.example.net [198.51.100.20]
< 250 2.0.0 601000001004242 Message accepted for delivery

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
