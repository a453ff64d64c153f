# The open-relay battery: a stranger tries every known trick to have us
# relay to another domain. Each is refused as sendmail 8.17 refuses it
# (550 5.7.1 Relaying denied); mail for our own domain is taken.
# site: cf/gateway/gateway.mc
# tables: access mailertable
# client: 198.51.100.20 mail.example.net
< 220 gateway.example.gr.jp ESMTP mxgate 0.1.0; Thu, 1 Jan 2026 00:00:00 +0000
> HELO mail.example.net
< 250 gateway.example.gr.jp Hello mail.example.net [198.51.100.20], pleased to meet you

> MAIL FROM:<spammer@example.net>
< 250 2.1.0 <spammer@example.net>... Sender ok

> RCPT TO:<victim@outside.example>
L SESSION: ruleset=check_rcpt, arg1=<victim@outside.example>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <victim@outside.example>... Relaying denied
< 550 5.7.1 <victim@outside.example>... Relaying denied

> RCPT TO:<victim%outside.example@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<victim%outside.example@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <victim%outside.example@example.gr.jp>... Relaying denied
< 550 5.7.1 <victim%outside.example@example.gr.jp>... Relaying denied

> RCPT TO:<outside.example!victim@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<outside.example!victim@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <outside.example!victim@example.gr.jp>... Relaying denied
< 550 5.7.1 <outside.example!victim@example.gr.jp>... Relaying denied

> RCPT TO:<@example.gr.jp:victim@outside.example>
L SESSION: ruleset=check_rcpt, arg1=<@example.gr.jp:victim@outside.example>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <@example.gr.jp:victim@outside.example>... Relaying denied
< 550 5.7.1 <@example.gr.jp:victim@outside.example>... Relaying denied

> RCPT TO:<"victim@outside.example">
L SESSION: ruleset=check_rcpt, arg1=<"victim@outside.example">, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <"victim@outside.example">... Relaying denied
< 550 5.7.1 <"victim@outside.example">... Relaying denied

> RCPT TO:<"victim@outside.example"@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<"victim@outside.example"@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <"victim@outside.example"@example.gr.jp>... Relaying denied
< 550 5.7.1 <"victim@outside.example"@example.gr.jp>... Relaying denied

> RCPT TO:<victim@outside.example@example.gr.jp>
L SESSION: ruleset=check_rcpt, arg1=<victim@outside.example@example.gr.jp>, relay=mail.example.net [198.51.100.20], reject=553 5.1.3 <victim@outside.example@example.gr.jp>... Invalid route address
< 553 5.1.3 <victim@outside.example@example.gr.jp>... Invalid route address

> RCPT TO:<victim@[198.51.100.1]>
L SESSION: ruleset=check_rcpt, arg1=<victim@[198.51.100.1]>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <victim@[198.51.100.1]>... Relaying denied
< 550 5.7.1 <victim@[198.51.100.1]>... Relaying denied

> RCPT TO:<victim@example.gr.jp.outside.example>
L SESSION: ruleset=check_rcpt, arg1=<victim@example.gr.jp.outside.example>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <victim@example.gr.jp.outside.example>... Relaying denied
< 550 5.7.1 <victim@example.gr.jp.outside.example>... Relaying denied

> RCPT TO:<victim@outside.example.>
L SESSION: ruleset=check_rcpt, arg1=<victim@outside.example>, relay=mail.example.net [198.51.100.20], reject=550 5.7.1 <victim@outside.example>... Relaying denied
< 550 5.7.1 <victim@outside.example>... Relaying denied

> RCPT TO:<victim>
L SESSION: ruleset=check_rcpt, arg1=<victim>, relay=mail.example.net [198.51.100.20], reject=550 5.1.1 <victim>... User unknown
< 550 5.1.1 <victim>... User unknown

> RCPT TO:<bob@example.gr.jp>
< 250 2.1.5 <bob@example.gr.jp>... Recipient ok

> QUIT
< 221 2.0.0 gateway.example.gr.jp closing connection
~ closed
