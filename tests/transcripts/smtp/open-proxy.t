# An HTTP command as the first command is an open-proxy probe: sendmail
# 8.17 answers 421 4.7.0 and closes (checked with sendmail -bs).
# site: cf/gateway/gateway.mc
# tables: access mailertable
# client: 198.51.100.20 mail.example.net
< 220 gateway.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> GET / HTTP/1.0
L SESSION: mail.example.net [198.51.100.20]: probable open proxy: command=GET / HTTP/1.0
< 421 4.7.0 gateway.example.gr.jp Rejecting open proxy mail.example.net [198.51.100.20]
~ closed
L SESSION: mail.example.net [198.51.100.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA
