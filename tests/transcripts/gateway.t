# The edge gateway (cf/gateway): never an open relay; the organisation's
# domains go to the hub without MX lookups; access, dnsbl and header rules.
# site: cf/gateway/gateway.mc
# tables: access mailertable
> /parse user@example.gr.jp
mailer smtp, host [dist-in.example.gr.jp], user user@example.gr.jp
  why: mailertable line 4 `example.gr.jp` matched (value `smtp:[dist-in.example.gr.jp]`)
> /parse user@sub1.example.gr.jp
mailer smtp, host [dist-in.example.gr.jp], user user@sub1.example.gr.jp
  why: mailertable line 3 `.example.gr.jp` matched (value `smtp:[dist-in.example.gr.jp]`)
> /parse user@outside.example
mailer esmtp, host outside.example, user user@outside.example
  why: no mailertable entry or SMART_HOST: esmtp to the MX of `outside.example`
> /parse user@[192.0.2.55]
mailer esmtp, host [192.0.2.55], user user@[192.0.2.55]
  why: domain literal: sent to that address (no SMART_HOST)
> .D{client_addr}198.51.100.7
{client_addr} = "198.51.100.7"
> .D{client_name}mx.stranger.example
{client_name} = "mx.stranger.example"
> check_mail <someone@stranger.example>
accept
  why: delay_checks: sender checked at RCPT
> check_rcpt <u@outside.example>
reject: 550 5.7.1 Relaying denied
  why: destination not local or relayable, and client may not relay
> check_rcpt <u%outside.example@gateway.example.gr.jp>
reject: 550 5.7.1 Relaying denied
  why: destination not local or relayable, and client may not relay
> check_rcpt <u@sub1.example.gr.jp>
accept
  why: class R contains example.gr.jp
> check_rcpt <bogus_user@gateway.example.gr.jp>
reject: 550 5.2.1 Mailbox disabled for this recipient
  why: access `To:bogus_user@` → REJECT
> .D{client_addr}61.49.138.219
{client_addr} = "61.49.138.219"
> .D{client_name}[61.49.138.219]
{client_name} = "[61.49.138.219]"
> check_relay [61.49.138.219] $| 61.49.138.219
accept
  why: delay_checks: client checked at RCPT
> check_rcpt <u@example.gr.jp>
reject: 550 5.7.1 Access denied
  why: access `Connect:61.49.138.219` → REJECT
> check_rcpt <postmaster@gateway.example.gr.jp>
accept
  why: class w contains gateway.example.gr.jp
> header Subject: Make Money Fast!
reject: 550 5.7.1 Message content rejected
  why: CFDIR/header_checks:3: /^Subject: .*Make Money Fast/		REJECT
> header Subject: make money fast!
reject: 550 5.7.1 Message content rejected
  why: CFDIR/header_checks:3: /^Subject: .*Make Money Fast/		REJECT
> header Subject: cheap VIAGRA here
reject: 550 5.7.1 Spam not accepted
  why: CFDIR/header_checks:4: /^Subject: .*viagra/			REJECT Spam not accepted
> header X-Mailer: Mass Mailer 2.0
discard
  why: CFDIR/header_checks:5: /^X-Mailer: .*Mass Mailer/i		DISCARD
> header X-Mailer: mass mailer 2.0
accept
  why: no header rule matched
> header Subject: minutes of the meeting
accept
  why: no header rule matched
