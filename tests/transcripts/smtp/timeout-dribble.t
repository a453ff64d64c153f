# A client that sends a command line a few octets at a time: the line must
# be complete within confTO_COMMAND of the first wait (Postfix's words).
# site: cf/gateway/gateway.mc
# tables: access mailertable
# define: confTO_COMMAND=60s
# client: 198.51.100.20 mail.example.net
< 220 gateway.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
>~ EHL
~ idle 30
>~ O ma
~ idle 31
L SESSION: relay=mail.example.net [198.51.100.20]: timeout exceeded during command: command line not complete within 60s (7 octets received), reject=421 4.4.2 gateway.example.gr.jp Error: timeout exceeded
< 421 4.4.2 gateway.example.gr.jp Error: timeout exceeded
~ closed
L SESSION: mail.example.net [198.51.100.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA
