# greet_pause: a client that talks before the greeting is refused at every
# command (sendmail: greeting 554, then 550 5.0.0 Command rejected).
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# early: EHLO hasty.example.net
# client: 198.51.100.21 hasty.example.net
~ early EHLO hasty.example.net
L SESSION: rejecting commands from hasty.example.net [198.51.100.21] due to pre-greeting traffic after 1 seconds
< 554 mx.example.com ESMTP not accepting messages
< 550 5.0.0 Command rejected
> EHLO hasty.example.net
< 550 5.0.0 Command rejected

> MAIL FROM:<a@hasty.example.net>
< 550 5.0.0 Command rejected

> QUIT
< 221 2.0.0 mx.example.com closing connection
~ closed
