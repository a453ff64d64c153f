# STARTTLS command injection (CVE-2011-0411 class): commands pipelined
# after STARTTLS in the clear are thrown away, never run inside TLS.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# tls: available
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
< 250-STARTTLS
< 250-ETRN
< 250 HELP

> STARTTLS
> MAIL FROM:<injected@example.net>
> RCPT TO:<bob@example.gr.jp>
< 220 2.0.0 Ready to start TLS
~ tls
L SESSION: STARTTLS=server, relay=mail.example.net [198.51.100.20], version=TLSv1.3, verify=NO, cipher=TLS13_AES_256_GCM_SHA384, bits=256/256

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

> RCPT TO:<bob@example.gr.jp>
< 503 5.0.0 Need MAIL before RCPT

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
L SESSION: mail.example.net [198.51.100.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA
