//! The end of DATA (or the last BDAT chunk): hop count, content checks,
//! the filters' end of message, the envelope and the commit.

use super::*;
use crate::policy::Resolve;
use crate::proto::command::Body;
use crate::proto::command::Notify;
use crate::proto::server::BodyEnd;
use crate::smtpd::milters::{self, Macros, Outcome};
use crate::smtpd::received::{Trace, received, rfc5322_date};
use crate::spool::envelope::{Forward, Recipient};

impl<W: World> Session<W> {
    pub(super) async fn end_of_data(&mut self, end: BodyEnd) -> Reply {
        let tx = std::mem::take(&mut self.tx);
        let reply = self.finish_message(end, tx).await;
        // Refused, discarded or committed: the scratch file is done with
        // (also one a failed spill left half-written).
        self.world.discard_spill();
        reply
    }

    async fn finish_message(&mut self, end: BodyEnd, mut tx: Draft) -> Reply {
        let settings = self.settings.clone();
        if end.bare_line_end {
            let r = Reply::new(
                550,
                st(5, 6, 2),
                "Message contains bare CR or LF; refused (SMTP smuggling protection)",
            );
            self.log(None, &format!("{}: reject={r}", self.relay()));
            return r;
        }
        if tx.too_big {
            let r = Reply::new(
                552,
                st(5, 2, 3),
                format!(
                    "Message size exceeds fixed maximum message size ({})",
                    settings.max_message_size
                ),
            );
            self.log(None, &format!("{}: reject={r}", self.relay()));
            return r;
        }
        // The protocol session refuses DATA before MAIL; should it ever
        // reach here, the same reply.
        let Some(mut sender) = tx.sender.clone() else {
            return Reply::new(503, st(5, 0, 0), "Need MAIL command");
        };
        if let Some(e) = tx.spill_error.take() {
            return self.spool_failure(e);
        }
        // The content checks and the mail filters read the whole message:
        // a spilled one is read back for them (the world bounds how many
        // at once). Without either it stays on disk until the commit.
        if tx.spilled > 0 && (!self.runtime.content.is_empty() || !self.world.filters().is_empty())
        {
            match self.world.unspill().await {
                Ok(mut whole) => {
                    whole.extend_from_slice(&tx.body);
                    tx.body = whole;
                    tx.spilled = 0;
                    tx.headers = None;
                    self.world.discard_spill();
                }
                Err(e) => return self.spool_failure(e),
            }
        }
        // sendmail's MaxHeadersLength (collect.c): a header past it is
        // refused once the message is in, `552 5.6.0 Headers too large
        // (32768 max)` (checked on sendmail 8.17 with -bs).
        let max = settings.max_headers_length;
        if max > 0 && header_length(header_view(&tx)) > max {
            self.log(
                None,
                &format!(
                    "headers too large ({max} max) from {} during message collect",
                    self.client.name
                ),
            );
            return Reply::new(552, st(5, 6, 0), format!("Headers too large ({max} max)"));
        }
        // Mail loops: sendmail refuses a message with more than MaxHopCount
        // (confMAX_HOP, default 25) Received: headers.
        let max_hop = settings.max_hops;
        let hops = unfolded_headers(header_view(&tx))
            .iter()
            .filter(|h| {
                h.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("received"))
            })
            .count();
        if hops > max_hop {
            let r = Reply::new(
                554,
                st(5, 4, 6),
                format!("Too many hops {hops} ({max_hop} max)"),
            );
            self.log(None, &format!("{}: reject={r}", self.relay()));
            return r;
        }
        // Content checks (header, MIME, nested and body rules, Postfix's
        // semantics): before the milters, which see the rewritten message.
        let mut quarantine = tx.quarantine.clone();
        let mut discard = tx.discard.clone();
        let checks = match self.content_checks(&mut tx, &sender) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        if let Some(h) = &checks.hold {
            quarantine = Some(h.clone());
        }
        if let policy::Stop::Discard(why) = &checks.stop {
            discard = Some(why.clone());
        }
        // The mail filters see the message as received; what they change
        // is what is spooled.
        if !self.world.filters().is_empty() && !checks.pass {
            let macros: Macros = vec![(
                "msg_id".into(),
                header_value(&tx.body, "message-id").unwrap_or_default(),
            )];
            let (o, changes) = self.world.filters().message(&macros, &tx.body).await;
            match o {
                Outcome::Discard(name) => {
                    self.milter_log();
                    self.log(None, "Milter: data, discard");
                    discard = Some(format!("milter {name}"));
                }
                o => {
                    if let Some(r) = self.milter_outcome("data", "", o) {
                        return r;
                    }
                }
            }
            if let Some(m) = changes.message {
                tx.body = m;
            }
            if !changes.envelope.is_empty() {
                let mut lines = Vec::new();
                milters::apply_envelope(
                    &changes.envelope,
                    &mut sender,
                    &mut tx.params,
                    &mut tx.rcpts,
                    &mut lines,
                );
                if tx.rcpts.is_empty() && discard.is_none() {
                    discard = Some("milter: no recipients left".to_string());
                }
                for l in lines {
                    self.log(None, &l);
                }
            }
            self.milter_log();
            if let Some(q) = changes.quarantine {
                quarantine = Some(q);
            }
        }
        let msgid = header_value(header_view(&tx), "message-id").unwrap_or_default();
        let nrcpts = tx.rcpts.len();
        if let Some(why) = discard {
            self.messages += 1;
            self.log(
                None,
                &format!(
                    "from=<{}>, size={}, nrcpts={nrcpts}, {}, discarded ({why})",
                    display_path(&sender),
                    tx.spilled + tx.body.len() as u64,
                    self.relay()
                ),
            );
            return Reply::new(250, st(2, 0, 0), "Message accepted for delivery");
        }
        let mut envelope = Envelope::new(&format!("<{}>", display_path(&sender)));
        envelope.arrival = self.world.unix_time();
        let arrival = envelope.arrival;
        for (r, p) in &tx.rcpts {
            envelope.recipients.push(Recipient {
                // Kept as written: the next hop gets the sender's case (sendmail 8.17).
                address: Forward::Mailbox(r.clone()),
                notify: p.notify,
                orcpt: p.orcpt.clone(),
            });
        }
        // REDIRECT: the recipients become the one address; BCC adds
        // recipients that never get a DSN (Postfix's NOTIFY=NONE).
        if let Some(to) = &checks.redirect {
            envelope.recipients = vec![Recipient::of(Forward::parse(to))];
        }
        for to in &checks.bcc {
            envelope.recipients.push(Recipient {
                address: Forward::parse(to),
                notify: Some(Notify::default()),
                orcpt: None,
            });
        }
        let mut facts = vec![
            ("helo".to_string(), self.helo.clone()),
            ("client-addr".to_string(), self.ip_text()),
            ("client-name".to_string(), self.client.name.clone()),
            ("proto".to_string(), self.proto().to_string()),
            ("daemon".to_string(), self.spec.name.clone()),
        ];
        if let Some(e) = &tx.params.envid {
            facts.push(("envid".into(), e.clone()));
        }
        if let Some(r) = tx.params.ret {
            facts.push(("ret".into(), format!("{r:?}").to_uppercase()));
        }
        if tx.params.body == Body::EightBitMime {
            facts.push(("body".into(), "8BITMIME".into()));
        }
        if tx.params.smtputf8 {
            facts.push(("smtputf8".into(), "yes".into()));
        }
        if let Some(u) = &self.authed {
            facts.push(("auth".into(), u.clone()));
        }
        if let Some(q) = &quarantine {
            facts.push(("quarantine".into(), q.clone()));
        }
        // A header or body rule's FILTER action (docs/content.md) wins over
        // the listener's after-queue content filter: the queue sends the
        // message there instead of routing it.
        if let Some(f) = &checks.filter {
            if self.spec.reinjection {
                self.log(
                    None,
                    &format!(
                        "{}: FILTER {f} not applied: daemon {} is the content filter's re-injection listener (ContentFilter=), its mail has been filtered",
                        self.relay(),
                        self.spec.name
                    ),
                );
            } else {
                facts.push(("filter".into(), f.clone()));
            }
        }
        if let Some(f) = &self.spec.content_filter
            && !facts.iter().any(|(k, _)| k == "filter")
        {
            facts.push(("filter".into(), f.clone()));
        }
        envelope.facts = facts;
        let state = if quarantine.is_some() {
            State::Quarantine
        } else {
            State::Queue
        };
        let id = match tx.id.take() {
            Some(id) => id,
            None => self.world.next_id(),
        };
        let tls = self.tls.clone();
        let verify = self.client.cert.as_ref().map_or("", |c| c.verify.as_str());
        let for_rcpt = if nrcpts == 1 {
            tx.rcpts.first().map(|(r, _)| format!("<{r}>"))
        } else {
            None
        };
        let (ip, proto) = (self.ip_text(), self.proto());
        let trace = Trace {
            helo: &self.helo,
            client_name: &self.client.name,
            client_addr: &ip,
            forged: self.client.resolve == Resolve::Forged,
            by: &self.site.hostname,
            proto,
            id: id.as_str(),
            tls: tls.as_ref().map(|(v, c)| (v.as_str(), c.as_str(), verify)),
            auth: self.client.auth_type.as_deref(),
            for_rcpt: for_rcpt.as_deref(),
            now: arrival,
        };
        let mut head = received(&trace);
        if self.spec.is_submission() {
            head += &missing_headers(header_view(&tx), id.as_str(), &self.site.hostname, arrival);
        }
        // The Message-ID a submission server added is the one logged.
        let msgid = if msgid.is_empty() {
            header_value(head.as_bytes(), "message-id").unwrap_or_default()
        } else {
            msgid
        };
        let commit = Commit {
            id: id.clone(),
            envelope,
            head,
            body: tx.body,
            spilled: tx.spilled,
            state,
        };
        let committed = self
            .world
            .commit(commit)
            .await
            .map(|size| (id.as_str().to_string(), size));
        match committed {
            Ok((id, size)) => {
                self.messages += 1;
                crate::metrics::global()
                    .inc(crate::metrics::RECEIVED, &[("listener", &self.spec.name)]);
                let mut line = format!(
                    "from=<{}>, size={size}, class=0, nrcpts={nrcpts}, msgid={msgid}, proto={}, daemon={}, {}",
                    display_path(&sender),
                    self.proto(),
                    self.spec.name,
                    self.relay()
                );
                if let Some(q) = &quarantine {
                    line += &format!(", quarantine={q}");
                }
                if end.long_line {
                    // Accepted as Postfix does; our SMTP client folds them.
                    line += ", long_lines=over998";
                }
                self.log(Some(&id), &line);
                Reply::new(
                    250,
                    st(2, 0, 0),
                    format!("{id} Message accepted for delivery"),
                )
            }
            Err(e) => self.spool_failure(e),
        }
    }

    /// The spool could not take the message: `452 4.3.1` when it is full,
    /// else `451 4.3.0`; the client keeps the message and retries.
    fn spool_failure(&self, e: spool::Error) -> Reply {
        if let spool::Error::NoSpace { .. } = e {
            self.log(
                None,
                &format!("{}: spool full, message not accepted", self.relay()),
            );
            return Reply::new(452, st(4, 3, 1), "Insufficient disk space; try again later");
        }
        self.log(None, &format!("SYSERR: spool: {e}"));
        Reply::new(
            451,
            st(4, 3, 0),
            "Temporary system failure. Please try again later.",
        )
    }

    /// Run the content checks over the message (editing `tx.body` as the
    /// rules say) and log what they did, Postfix's way (`reject: header
    /// Subject: ... from host[ip]; from=<s> to=<r> proto=ESMTP helo=<h>:
    /// 5.7.1 text`). A REJECT is also logged as `header rule FILE:LINE:
    /// reject=...` (or `body rule`), which `mxgate report` counts.
    pub(super) fn content_checks(
        &mut self,
        tx: &mut Draft,
        sender: &Address,
    ) -> Result<policy::Inspection, Reply> {
        let rules = self.runtime.content.clone();
        if rules.is_empty() {
            return Ok(policy::inspect(&rules, b""));
        }
        let mut out = policy::inspect(&rules, &tx.body);
        let to = tx
            .rcpts
            .first()
            .map(|(r, _)| r.to_written_string())
            .unwrap_or_default();
        let name = if self.client.name.is_empty() || self.client.name.starts_with('[') {
            "unknown"
        } else {
            self.client.name.as_str()
        };
        let tail = format!(
            "from {name}[{}]; from=<{}> to=<{to}> proto={} helo=<{}>",
            self.ip_text(),
            display_path(sender),
            self.proto(),
            self.helo
        );
        for n in &out.notes {
            let line = if n.kind == "limit" {
                format!("info: body size limit {tail}: {}", n.text)
            } else if n.text.is_empty() {
                format!(
                    "{}: {} {} {tail}: rule {}",
                    n.kind, n.class, n.input, n.rule
                )
            } else {
                format!("{}: {} {} {tail}: {}", n.kind, n.class, n.input, n.text)
            };
            self.log(None, &line);
        }
        if let Some(m) = out.message.take() {
            tx.body = m;
        }
        if let policy::Stop::Reject(r) = &out.stop {
            let reply = to_reply(r, None);
            let class = out.notes.last().map_or("header", |n| n.class);
            let rule = out.stopped_by.clone();
            self.log(
                None,
                &format!("{}: {class} rule {rule}: reject={reply}", self.relay()),
            );
            return Err(reply);
        }
        Ok(out)
    }
}

/// The message's header section as received: the copy kept when the
/// message was spilled, else the message in memory.
fn header_view(tx: &Draft) -> &[u8] {
    tx.headers.as_deref().unwrap_or(&tx.body)
}

/// Bytes of the header as sendmail's `collect()` counts them toward
/// `MaxHeadersLength`: each header line (a `name:` field or its
/// continuation) with one byte for its line end, up to the empty line or
/// the first line that is no header line.
pub fn header_length(msg: &[u8]) -> usize {
    let mut n = 0;
    for (i, line) in msg.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let continued = i > 0 && line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if line.is_empty() || !(continued || is_header_line(line)) {
            break;
        }
        n += line.len() + 1;
    }
    n
}

/// sendmail's `isheader()`: a field name of printable characters other
/// than `:`, then optional blanks and a colon.
fn is_header_line(line: &[u8]) -> bool {
    let name_end = line
        .iter()
        .position(|&b| !(0x21..0x7f).contains(&b) || b == b':')
        .unwrap_or(line.len());
    name_end > 0
        && line[name_end..]
            .iter()
            .find(|&&b| b != b' ' && b != b'\t')
            .is_some_and(|&b| b == b':')
}

/// The header section (up to the first empty line), unfolded, one string per header.
pub fn unfolded_headers(msg: &[u8]) -> Vec<String> {
    // Only the header section is converted (the body may be megabytes).
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(msg.len(), |i| i + 2);
    let text = String::from_utf8_lossy(msg.get(..end).unwrap_or(msg));
    let mut out: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.push_str(line);
            continue;
        }
        out.push(line.to_string());
    }
    out
}

fn header_value(msg: &[u8], name: &str) -> Option<String> {
    unfolded_headers(msg).into_iter().find_map(|h| {
        let (n, v) = h.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// RFC 6409 §8: the headers a submission server adds when missing.
fn missing_headers(msg: &[u8], id: &str, host: &str, now: u64) -> String {
    let mut add = String::new();
    if header_value(msg, "date").is_none() {
        add += &format!("Date: {}\r\n", rfc5322_date(now));
    }
    if header_value(msg, "message-id").is_none() {
        add += &format!("Message-ID: <{now}.{id}@{host}>\r\n");
    }
    add
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_counts_header_lines_as_sendmail_collect_does() {
        // Each line with one byte for its end; the empty line stops.
        assert_eq!(
            header_length(b"Subject: x\r\nTo: y\r\n\r\nbody\r\n"),
            11 + 6
        );
        // A continuation belongs to the header.
        assert_eq!(header_length(b"Subject: a\r\n b\r\n\r\n"), 11 + 3);
        // A name may have blanks before its colon.
        assert_eq!(header_length(b"Subject : x\r\n\r\n"), 12);
        // The first line that is no header line ends it (sendmail then
        // reads the body), as does a message without any.
        assert_eq!(header_length(b"Subject: x\r\nnot a header\r\nX: y\r\n"), 11);
        assert_eq!(header_length(b"no header at all\r\n"), 0);
        assert_eq!(header_length(b" leading blank: x\r\n"), 0);
        assert_eq!(header_length(b""), 0);
        // No empty line: every header line counts.
        assert_eq!(header_length(b"A: 1\r\nB: 2"), 5 + 5);
    }
}
