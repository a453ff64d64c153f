# The access table cannot be read (a damaged or unreadable map): the
# first lookup, Srv_Features at connect, fails, so every connection gets
# `421 4.3.0 Please try again later.` and the log says why. The session
# does not go on without its rules (sendmail's `$#temp` for a map it
# cannot read: a temporary failure, no mail accepted).
# site: cf/gateway/gateway.mc
# tables: access mailertable
# broken: access
# client: 198.51.100.20 mail.example.net
L SESSION: ERROR: srv_features=tempfail, relay=mail.example.net [198.51.100.20], access temporarily disabled: (failing table): lookup failed
< 421 4.3.0 Please try again later.
~ closed
