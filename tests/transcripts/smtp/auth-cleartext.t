# AUTH is never offered or accepted in the clear (538 5.7.11), even where
# no certificate is configured.
# site: cf/mbox/mailserver.mc
# tables: access mailboxes
# listener: MSA
# define: confAUTH_DOVECOT_SOCKET=/run/dovecot/auth-client
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
< 250 HELP

> AUTH PLAIN AGFsaWNlAHNlY3JldA==
< 538 5.7.11 Encryption required for requested authentication mechanism

> MAIL FROM:<alice@example.gr.jp>
L SESSION: ruleset=check_mail, arg1=<alice@example.gr.jp>, relay=laptop.example.gr.jp [192.0.2.50], reject=530 5.7.0 Authentication required
< 530 5.7.0 Authentication required

> QUIT
< 221 2.0.0 mbox1.example.gr.jp closing connection
~ closed
