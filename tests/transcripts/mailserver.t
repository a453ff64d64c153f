# The internal mail server (cf/mbox): local users, virtual accounts with a
# disabled state, masquerading, lists; all other mail to the hub.
# site: cf/mbox/mailserver.mc
# tables: access mailboxes
> /parse alice@sub1.example.gr.jp
mailer local, host (local), user alice
  why: `sub1.example.gr.jp` is a local host name ($=w)
> /parse alice
mailer local, host (local), user alice
  why: unqualified address: local
> /parse user@outside.example
mailer esmtp, host [dist-in.example.gr.jp], user user@outside.example
  why: SMART_HOST `esmtp:[dist-in.example.gr.jp]`
> /tryflags HS
/try now rewrites header-sender addresses
> /try esmtp bob@mbox1.example.gr.jp
bob@example.gr.jp
  why: `mbox1.example.gr.jp` masqueraded as `example.gr.jp` (MASQUERADE_AS)
> /try esmtp root@mbox1.example.gr.jp
root@mbox1.example.gr.jp
  why: `root` is an EXPOSED_USER ($=E)
> /try esmtp bob
bob@example.gr.jp
  why: unqualified: masqueraded as `example.gr.jp` (MASQUERADE_AS)
> /tryflags ES
/try now rewrites envelope-sender addresses
> /try esmtp bob@mbox1.example.gr.jp
bob@example.gr.jp
  why: `mbox1.example.gr.jp` masqueraded as `example.gr.jp` (MASQUERADE_AS)
> /tryflags ER
/try now rewrites envelope-recipient addresses
> /try esmtp bob@mbox1.example.gr.jp
bob@mbox1.example.gr.jp
  why: no rewriting applies
> /expand staff@sub1.example.gr.jp
alice, bob, carol
  envelope sender for this list: owner-staff
  why: aliases expanded: staff
> /expand postmaster
alice
  why: aliases expanded: postmaster, root
> .D{client_addr}127.0.0.1
{client_addr} = "127.0.0.1"
> .D{client_name}localhost
{client_name} = "localhost"
> check_rcpt <mallory@sub1.example.gr.jp>
reject: 550 5.2.1 Mailbox temporarily disabled
  why: mailbox mallory disabled (Mailboxes)
> check_rcpt <nobody@sub1.example.gr.jp>
reject: 550 5.1.1 User unknown
  why: no local user nobody (Mailboxes)
> check_rcpt <alice@sub1.example.gr.jp>
accept
  why: class w contains sub1.example.gr.jp
