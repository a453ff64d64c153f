# An access Connect: entry whose ERROR: is a 421 ends the session at once.
# site: tests/transcripts/smtp/edge/edge.mc
# tables: access
# client: 203.0.113.6 host.example.org
L SESSION: ruleset=check_relay, arg1=host.example.org, arg2=203.0.113.6, relay=host.example.org [203.0.113.6], reject=421 4.3.2 Come back later
< 421 4.3.2 Come back later
~ closed
