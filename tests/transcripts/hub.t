# The distribution hub (cf/dist-in): internal sub-domains go statically to
# their mailbox servers; everything else goes to the gateway (SMART_HOST).
# site: cf/dist-in/distribution.mc
# tables: access mailertable
> /parse user@sub1.example.gr.jp
mailer smtp, host [mbox1.example.gr.jp], user user@sub1.example.gr.jp
  why: mailertable line 2 `sub1.example.gr.jp` matched (value `smtp:[mbox1.example.gr.jp]`)
> /parse user@sub2.example.gr.jp
mailer smtp, host [mbox2.example.gr.jp], user user@sub2.example.gr.jp
  why: mailertable line 3 `sub2.example.gr.jp` matched (value `smtp:[mbox2.example.gr.jp]`)
> /parse user@sub3.example.gr.jp
mailer smtp, host [192.0.2.25], user user@sub3.example.gr.jp
  why: mailertable line 5 `sub3.example.gr.jp` matched (value `smtp:[192.0.2.25]`)
> /parse user@example.gr.jp
mailer smtp, host [mbox1.example.gr.jp], user user@example.gr.jp
  why: mailertable line 7 `example.gr.jp` matched (value `smtp:[mbox1.example.gr.jp]`)
> /parse user@outside.example
mailer esmtp, host [gateway.example.gr.jp], user user@outside.example
  why: SMART_HOST `esmtp:[gateway.example.gr.jp]`
> /parse postmaster
mailer local, host (local), user postmaster
  why: unqualified address: local; then local name `postmaster` has an alias
> /map mailertable sub1.example.gr.jp
smtp:[mbox1.example.gr.jp]
> .D{client_addr}192.0.2.50
{client_addr} = "192.0.2.50"
> .D{client_name}mbox1.example.gr.jp
{client_name} = "mbox1.example.gr.jp"
> check_rcpt <x@outside.example>
accept
  why: access `Connect:192.0.2` → RELAY
> .D{client_addr}203.0.113.5
{client_addr} = "203.0.113.5"
> .D{client_name}[203.0.113.5]
{client_name} = "[203.0.113.5]"
> check_rcpt <x@outside.example>
reject: 550 5.7.1 Relaying denied
  why: destination not local or relayable, and client may not relay
> check_rcpt <x@sub1.example.gr.jp>
accept
  why: class R contains example.gr.jp
