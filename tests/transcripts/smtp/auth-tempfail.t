# The AUTH backend fails: 454 4.7.0, the client may try again later.
# site: cf/mbox/mailserver.mc
# tables: access mailboxes
# listener: MSA
# define: confAUTH_DOVECOT_SOCKET=/run/dovecot/auth-client
# tls: available
# password: alice secret
# password: carol TEMPFAIL
# client: 192.0.2.51 desk.example.gr.jp
< 220 mbox1.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO desk
< 250-mbox1.example.gr.jp Hello desk.example.gr.jp [192.0.2.51], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-STARTTLS
< 250 HELP

> STARTTLS
< 220 2.0.0 Ready to start TLS
~ tls
L SESSION: STARTTLS=server, relay=desk.example.gr.jp [192.0.2.51], version=TLSv1.3, verify=NO, cipher=TLS13_AES_256_GCM_SHA384, bits=256/256

> EHLO desk
< 250-mbox1.example.gr.jp Hello desk.example.gr.jp [192.0.2.51], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-AUTH PLAIN LOGIN
< 250 HELP

> AUTH PLAIN AGNhcm9sAHB3
L SESSION: AUTH failure (PLAIN): backend unavailable, relay=desk.example.gr.jp [192.0.2.51]
< 454 4.7.0 Temporary authentication failure

> QUIT
< 221 2.0.0 mbox1.example.gr.jp closing connection
~ closed
L SESSION: desk.example.gr.jp [192.0.2.51] did not issue MAIL/EXPN/VRFY/ETRN during connection to MSA
