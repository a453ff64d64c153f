# Submission (RFC 6409) with AUTH: required before MAIL, offered only under
# TLS; every AUTH reply; an unqualified sender is qualified and the missing
# Date: and Message-ID: are added.
# site: cf/mbox/mailserver.mc
# tables: access mailboxes
# listener: MSA
# define: confAUTH_DOVECOT_SOCKET=/run/dovecot/auth-client
# tls: available
# password: alice secret
# password: carol TEMPFAIL
# client: 192.0.2.50 laptop.example.gr.jp
< 220 mbox1.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO laptop
< 250-mbox1.example.gr.jp Hello laptop.example.gr.jp [192.0.2.50], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-STARTTLS
< 250 HELP

> MAIL FROM:<alice>
L SESSION: ruleset=check_mail, arg1=<alice>, relay=laptop.example.gr.jp [192.0.2.50], reject=530 5.7.0 Authentication required
< 530 5.7.0 Authentication required

> AUTH PLAIN AGFsaWNlAHNlY3JldA==
< 538 5.7.11 Encryption required for requested authentication mechanism

> STARTTLS
< 220 2.0.0 Ready to start TLS
~ tls
L SESSION: STARTTLS=server, relay=laptop.example.gr.jp [192.0.2.50], version=TLSv1.3, verify=NO, cipher=TLS13_AES_256_GCM_SHA384, bits=256/256

> EHLO laptop
< 250-mbox1.example.gr.jp Hello laptop.example.gr.jp [192.0.2.50], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-AUTH PLAIN LOGIN
< 250 HELP

> AUTH FOO
< 504 5.3.3 AUTH mechanism not available

> AUTH PLAIN !!!notbase64
< 501 5.5.2 Cannot decode AUTH parameter

> AUTH LOGIN
< 334 VXNlcm5hbWU6

> *
< 501 5.0.0 AUTH aborted

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=laptop.example.gr.jp [192.0.2.50]
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHNlY3JldA==
L SESSION: AUTH=server, relay=laptop.example.gr.jp [192.0.2.50], authid=alice, mech=PLAIN, bits=0
< 235 2.0.0 OK Authenticated

> AUTH PLAIN AGFsaWNlAHNlY3JldA==
< 503 5.5.0 Already Authenticated

> MAIL FROM:<alice>
< 250 2.1.0 <alice@mbox1.example.gr.jp>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> From: alice@example.gr.jp
> Subject: no date, no message-id
>
> body
> .
C 601000001004242 Queue from=<alice@mbox1.example.gr.jp> to=<bob@example.gr.jp>
C   helo=laptop
C   client-addr=192.0.2.50
C   client-name=laptop.example.gr.jp
C   proto=ESMTPSA
C   daemon=MSA
C   auth=alice
C | Received: from laptop (laptop.example.gr.jp [192.0.2.50])
C | 	(authenticated as mechanism PLAIN)
C | 	by mbox1.example.gr.jp (mxgate/0.1.0) with ESMTPSA id 601000001004242
C | 	(version=TLSv1.3 cipher=TLS13_AES_256_GCM_SHA384 verify=NO)
C | 	for <bob@example.gr.jp>; Thu, 1 Jan 2026 00:00:00 +0000
C | Date: Thu, 1 Jan 2026 00:00:00 +0000
C | Message-ID: <1767225600.601000001004242@mbox1.example.gr.jp>
L 601000001004242: from=<alice@mbox1.example.gr.jp>, size=456, class=0, nrcpts=1, msgid=<1767225600.601000001004242@mbox1.example.gr.jp>, proto=ESMTPSA, daemon=MSA, relay=laptop.example.gr.jp [192.0.2.50]
< 250 2.0.0 601000001004242 Message accepted for delivery

> QUIT
< 221 2.0.0 mbox1.example.gr.jp closing connection
~ closed
