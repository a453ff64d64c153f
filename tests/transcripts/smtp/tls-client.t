# TLS_Clt: in access (sendmail's tls_client, from check_mail): this client
# must use encryption of at least 256 bits. In the clear MAIL is refused;
# after STARTTLS with a 256-bit cipher it is taken.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# tls: available
# client: 198.51.100.30 secure.example.net
< 220 mx.example.com ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO secure.example.net
< 250-mx.example.com Hello secure.example.net [198.51.100.30], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10240000
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-STARTTLS
< 250-ETRN
< 250 HELP

> MAIL FROM:<a@secure.example.net>
L SESSION: ruleset=tls_client, arg1=<a@secure.example.net>, relay=secure.example.net [198.51.100.30], reject=454 4.7.0 encryption too weak 0 less than 256
< 454 4.7.0 encryption too weak 0 less than 256

> STARTTLS
< 220 2.0.0 Ready to start TLS
~ tls
L SESSION: STARTTLS=server, relay=secure.example.net [198.51.100.30], version=TLSv1.3, verify=NO, cipher=TLS13_AES_256_GCM_SHA384, bits=256/256

> EHLO secure.example.net
< 250-mx.example.com Hello secure.example.net [198.51.100.30], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10240000
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-ETRN
< 250 HELP

> MAIL FROM:<a@secure.example.net>
< 250 2.1.0 <a@secure.example.net>... Sender ok

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
