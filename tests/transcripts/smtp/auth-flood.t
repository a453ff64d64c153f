# Password guessing: each failure past the first few waits longer before
# its answer, sendmail's "possible SMTP attack" line is logged once, and
# the failures count as bad commands until the session is closed.
# site: cf/mbox/mailserver.mc
# tables: access mailboxes
# listener: MSA
# define: confAUTH_DOVECOT_SOCKET=/run/dovecot/auth-client
# tls: available
# password: alice secret
# password: carol TEMPFAIL
# define: confMXGATE_MAX_BAD_COMMANDS=8
# client: 198.51.100.66 guesser.example.net
< 220 mbox1.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> EHLO guesser
< 250-mbox1.example.gr.jp Hello guesser.example.net [198.51.100.66], pleased to meet you
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
L SESSION: STARTTLS=server, relay=guesser.example.net [198.51.100.66], version=TLSv1.3, verify=NO, cipher=TLS13_AES_256_GCM_SHA384, bits=256/256

> EHLO guesser
< 250-mbox1.example.gr.jp Hello guesser.example.net [198.51.100.66], pleased to meet you
< 250-ENHANCEDSTATUSCODES
< 250-PIPELINING
< 250-8BITMIME
< 250-SIZE 10485760
< 250-DSN
< 250-SMTPUTF8
< 250-CHUNKING
< 250-AUTH PLAIN LOGIN
< 250 HELP

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
L SESSION: guesser.example.net [198.51.100.66]: possible SMTP attack: command=AUTH, count=3
~ wait 1
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
~ wait 2
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
~ wait 4
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
~ wait 8
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
~ wait 16
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
~ wait 16
< 535 5.7.8 Authentication failed

> AUTH PLAIN AGFsaWNlAHdyb25n
L SESSION: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=alice, relay=guesser.example.net [198.51.100.66]
~ wait 16
L SESSION: relay=guesser.example.net [198.51.100.66]: possible SMTP attack: reject=421 4.7.0 mbox1.example.gr.jp Too many bad commands; closing connection
< 535 5.7.8 Authentication failed
< 421 4.7.0 mbox1.example.gr.jp Too many bad commands; closing connection
~ closed
L SESSION: guesser.example.net [198.51.100.66] did not issue MAIL/EXPN/VRFY/ETRN during connection to MSA
