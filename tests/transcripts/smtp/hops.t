# A mail loop: more than confMAX_HOP (25) Received: headers is refused
# with 554 5.4.6, as sendmail.
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

> MAIL FROM:<alice@example.net>
< 250 2.1.0 <alice@example.net>... Sender ok

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> DATA
< 354 Enter mail, end with "." on a line by itself

> Received: from hop1.example.net by hop2.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop2.example.net by hop3.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop3.example.net by hop4.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop4.example.net by hop5.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop5.example.net by hop6.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop6.example.net by hop7.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop7.example.net by hop8.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop8.example.net by hop9.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop9.example.net by hop10.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop10.example.net by hop11.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop11.example.net by hop12.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop12.example.net by hop13.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop13.example.net by hop14.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop14.example.net by hop15.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop15.example.net by hop16.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop16.example.net by hop17.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop17.example.net by hop18.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop18.example.net by hop19.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop19.example.net by hop20.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop20.example.net by hop21.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop21.example.net by hop22.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop22.example.net by hop23.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop23.example.net by hop24.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop24.example.net by hop25.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop25.example.net by hop26.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Received: from hop26.example.net by hop27.example.net; Thu, 1 Jan 2026 00:00:00 +0000
> Subject: looping
>
> body
> .
L SESSION: relay=mail.example.net [198.51.100.20]: reject=554 5.4.6 Too many hops 26 (25 max)
< 554 5.4.6 Too many hops 26 (25 max)

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
