//! Commands: HELO/EHLO, MAIL, RCPT, DATA/BDAT starts, AUTH, and the rest.

use super::*;
use crate::auth::{self, SaslFailure, SaslStep};
use crate::event::printable;
use crate::policy::Verdict;
use crate::proto::command::Body;
use crate::site::HostAnswer;
use crate::smtpd::milters::Outcome;

impl<W: World> Session<W> {
    /// The reply to one event (`None` for body chunks).
    pub(super) async fn answer(&mut self, event: Event) -> Option<Reply> {
        let reply = match event {
            Event::BodyChunk(chunk) => {
                self.in_body = true;
                self.take_chunk(&chunk).await;
                return None;
            }
            // A refused connection answers every command with the refusal.
            Event::Invalid(_) if self.refused.is_some() => self.refused.clone()?,
            Event::Invalid(r) => {
                self.errors += 1;
                self.first_command = false;
                r
            }
            Event::AuthResponse(line) => self.auth_step(line).await,
            Event::BodyEnd(end) => {
                self.in_body = false;
                self.end_of_data(end).await
            }
            Event::Command(cmd) => {
                if matches!(
                    cmd,
                    Command::Mail { .. } | Command::Vrfy(_) | Command::Expn(_) | Command::Etrn(_)
                ) {
                    self.mail_cmd = true;
                }
                if matches!(
                    cmd,
                    Command::Noop
                        | Command::Rset
                        | Command::Vrfy(_)
                        | Command::Expn(_)
                        | Command::Help
                        | Command::Etrn(_)
                        | Command::Helo(_)
                        | Command::Ehlo(_)
                ) {
                    self.nonmail += 1;
                }
                if let Some(refused) = &self.refused {
                    match cmd {
                        Command::Quit => self.quit(),
                        Command::Rset => Reply::new(250, st(2, 0, 0), "Reset state"),
                        Command::Noop => Reply::new(250, st(2, 0, 0), "OK"),
                        _ => refused.clone(),
                    }
                } else {
                    let r = self.command(cmd).await;
                    self.first_command = false;
                    r
                }
            }
        };
        Some(reply)
    }

    pub(super) fn quit(&self) -> Reply {
        Reply::new(
            221,
            st(2, 0, 0),
            format!("{} closing connection", self.site.hostname),
        )
    }

    pub(super) fn tls_active(&self) -> bool {
        self.tls.is_some()
    }

    /// Feature `c` (`A` AUTH, `S` STARTTLS, `E` ETRN, `D` DSN, `P`
    /// PIPELINING) is off for this client: its `Srv_Features:` letter
    /// says so, or, without one, the listener's `M=` modifier of that letter.
    pub(super) fn off(&self, c: char) -> bool {
        // confPRIVACY_FLAGS noetrn / noreceipts turn ETRN and DSN off
        // whatever Srv_Features or the listener say.
        let privacy = self.settings.privacy;
        if (c == 'E' && privacy.no_etrn) || (c == 'D' && privacy.no_receipts) {
            return true;
        }
        match self.features.get(c) {
            Some(on) => !on,
            None => self.spec.has(c.to_ascii_uppercase()),
        }
    }

    /// STARTTLS cannot be offered: no certificate, turned off, or a
    /// Unix-domain socket.
    pub(super) fn starttls_off(&self) -> bool {
        !self.tls_available || self.off('S') || self.unix()
    }

    /// AUTH is required before MAIL: `Srv_Features:` `l`/`L`, else the
    /// listener (`M=a`, or a submission listener with an AUTH backend).
    pub(super) fn auth_required(&self) -> bool {
        self.features.get('l').unwrap_or_else(|| {
            self.spec.has('a') || self.spec.is_submission() && self.runtime.auth.is_enabled()
        })
    }

    /// AUTH is offered only over TLS (never in the clear), when a backend is configured.
    pub(super) fn auth_offered(&self) -> bool {
        self.runtime.auth.is_enabled()
            && !self.off('A')
            && self.authed.is_none()
            && self.tls_active()
    }

    /// The greeting line of the HELO and EHLO replies: the client by its
    /// verified name (by its HELO name when it has none), as sendmail.
    pub(super) fn hello_line(&self, name: &str) -> String {
        format!(
            "{} Hello {} [{}], pleased to meet you",
            self.site.hostname,
            if self.client.name.starts_with('[') {
                name
            } else {
                &self.client.name
            },
            if self.unix() {
                self.ip_text()
            } else {
                self.peer.ip().to_string()
            }
        )
    }

    pub(super) fn ehlo_reply(&self, name: &str, settings: &Settings) -> Reply {
        let mut lines = vec![self.hello_line(name)];
        lines.push("ENHANCEDSTATUSCODES".into());
        if !self.off('P') {
            lines.push("PIPELINING".into());
        }
        lines.push("8BITMIME".into());
        let max = settings.max_message_size;
        lines.push(if max > 0 {
            format!("SIZE {max}")
        } else {
            "SIZE".into()
        });
        if !self.off('D') {
            lines.push("DSN".into());
        }
        lines.push("SMTPUTF8".into());
        lines.push("CHUNKING".into());
        if self.auth_offered() {
            lines.push(format!("AUTH {}", auth::MECHANISMS));
        }
        if !self.starttls_off() && !self.tls_active() {
            lines.push("STARTTLS".into());
        }
        if !self.off('E') {
            lines.push("ETRN".into());
        }
        lines.push("HELP".into());
        Reply {
            code: 250,
            status: None,
            lines,
        }
    }

    pub(super) fn proto(&self) -> &'static str {
        match (self.tls_active(), self.authed.is_some()) {
            (_, _) if self.helo.is_empty() => "SMTP",
            (true, true) => "ESMTPSA",
            (true, false) => "ESMTPS",
            (false, true) => "ESMTPA",
            (false, false) => "ESMTP",
        }
    }

    pub(super) async fn command(&mut self, cmd: Command) -> Reply {
        let settings = self.settings.clone();
        match cmd {
            Command::Helo(ref name) | Command::Ehlo(ref name) => {
                let extended = matches!(cmd, Command::Ehlo(_));
                let name = name.clone();
                let v = policy::check_helo(&self.site, &self.facts, &self.client, &name);
                if let Some(r) = v.reply() {
                    let reply = to_reply(r, None);
                    self.log_reject("check_helo", &name, &reply);
                    return reply;
                }
                let macros = self.macros_helo();
                let o = self.world.filters().helo(&macros, &name).await;
                if let Some(r) = self.milter_outcome("helo", &name, o) {
                    return r;
                }
                self.helo = name.clone();
                self.new_draft(Draft::default());
                if extended {
                    self.ehlo_reply(&name, &settings)
                } else {
                    Reply::plain(250, self.hello_line(&name))
                }
            }
            Command::Mail(sender, params) => self.mail(sender, params, &settings).await,
            Command::Rcpt(rcpt, params) => {
                self.bad_rcpt_throttle(&settings).await;
                let reply = self.rcpt(rcpt, params, &settings).await;
                if reply.code >= 400 {
                    self.bad_rcpts += 1;
                }
                reply
            }
            Command::Data => {
                if let Err(text) = self.world.has_room() {
                    let r = Reply::new(452, st(4, 3, 1), text);
                    self.log(None, &format!("{}: DATA: reject={r}", self.relay()));
                    return r;
                }
                if self.tx.sender.is_some() && !self.tx.rcpts.is_empty() {
                    let o = self.world.filters().data(&Vec::new()).await;
                    if let Some(r) = self.milter_outcome("data", "", o) {
                        return r;
                    }
                }
                self.in_body = true;
                Reply::plain(354, "Enter mail, end with \".\" on a line by itself")
            }
            Command::Bdat { size, .. } => {
                self.in_body = false;
                Reply::new(250, st(2, 0, 0), format!("{size} bytes received"))
            }
            Command::Rset => {
                self.new_draft(Draft::default());
                self.world.filters().abort().await;
                Reply::new(250, st(2, 0, 0), "Reset state")
            }
            Command::Noop => Reply::new(250, st(2, 0, 0), "OK"),
            Command::Quit => self.quit(),
            Command::Vrfy(arg) => {
                self.log(
                    None,
                    &format!("{}: VRFY {} [rejected]", self.client_text(), printable(&arg, 203)),
                );
                Reply::new(
                    252,
                    st(2, 5, 2),
                    "Cannot VRFY user; try RCPT to attempt delivery (or try finger)",
                )
            }
            Command::Expn(arg) => {
                self.log(
                    None,
                    &format!("{}: EXPN {} [rejected]", self.client_text(), printable(&arg, 203)),
                );
                Reply::new(502, st(5, 7, 0), "Sorry, we do not allow this operation")
            }
            Command::Help => Reply {
                code: 214,
                status: Some(st(2, 0, 0)),
                lines: vec![
                    "This is mxgate; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH".into(),
                    "End of HELP info".into(),
                ],
            },
            Command::StartTls => {
                if self.starttls_off() {
                    Reply::new(454, st(4, 7, 0), "TLS not available")
                } else if self.tls_active() {
                    Reply::new(503, st(5, 5, 1), "TLS already active")
                } else {
                    Reply::new(220, st(2, 0, 0), "Ready to start TLS")
                }
            }
            Command::Auth { mechanism, initial } => {
                if self.authed.is_some() {
                    return Reply::new(503, st(5, 5, 0), "Already Authenticated");
                }
                if !self.runtime.auth.is_enabled() || self.off('A') {
                    return Reply::new(503, st(5, 3, 3), "AUTH mechanism not available");
                }
                if !self.tls_active() {
                    return Reply::new(
                        538,
                        st(5, 7, 11),
                        "Encryption required for requested authentication mechanism",
                    );
                }
                match auth::start(&mechanism, initial.as_deref()) {
                    None => Reply::new(504, st(5, 3, 3), "AUTH mechanism not available"),
                    Some(step) => self.sasl_step(step, &mechanism).await,
                }
            }
            // sendmail: an HTTP command as the first command (or the first
            // after STARTTLS), or any time with `Srv_Features:` `h`, ends
            // the connection (checked on sendmail 8.17: `GET / HTTP/1.0`
            // first got `421 4.7.0 <host> Rejecting open proxy <client>`).
            Command::Http(line) => {
                if self.first_command || self.features.get('h') == Some(true) {
                    self.log(
                        None,
                        &format!("{}: probable open proxy: command={line}", self.client_text()),
                    );
                    Reply::new(
                        421,
                        st(4, 7, 0),
                        format!(
                            "{} Rejecting open proxy {}",
                            self.site.hostname,
                            self.client_text()
                        ),
                    )
                } else {
                    self.errors += 1;
                    Reply::new(500, st(5, 5, 1), format!("Command unrecognized: \"{line}\""))
                }
            }
            Command::Unknown(line) => {
                self.errors += 1;
                if !self.world.filters().is_empty() {
                    let o = self.world.filters().unknown(&line).await;
                    if let Some(r) = self.milter_outcome("unknown", &line, o) {
                        return r;
                    }
                }
                Reply::new(500, st(5, 5, 1), format!("Command unrecognized: \"{line}\""))
            }
            // sendmail runs the queue for the node; we ask the queue to retry
            // everything it holds now (as `mxgate queue flush`), which
            // includes the node's mail. The world refuses a second flush
            // within a minute, so a client cannot keep the queue rescanning.
            Command::Etrn(node) => {
                if self.off('E') {
                    return Reply::new(502, st(5, 7, 0), "Sorry, we do not allow this operation");
                }
                let node = printable(&node, 203);
                let started = self.world.flush_queue();
                self.log(
                    None,
                    &format!(
                        "{}: ETRN {node}{}",
                        self.client_text(),
                        if started { "" } else { " (a queue run was started less than a minute ago)" }
                    ),
                );
                Reply::new(250, st(2, 0, 0), format!("Queuing for node {node} started"))
            }
        }
    }

    pub(super) async fn sasl_step(&mut self, step: SaslStep, mechanism: &str) -> Reply {
        match step {
            SaslStep::Challenge(c, next) => {
                self.sasl = Some(next);
                self.auth_mech = Some(mechanism.to_string());
                Reply::plain(334, c)
            }
            SaslStep::Failed(SaslFailure::Cancelled) => {
                Reply::new(501, st(5, 0, 0), "AUTH aborted")
            }
            SaslStep::Failed(SaslFailure::Malformed) => {
                Reply::new(501, st(5, 5, 2), "Cannot decode AUTH parameter")
            }
            SaslStep::Done(creds) => {
                let ip = self.peer.ip();
                let verdict = self.world.check_password(&creds, ip).await;
                match verdict {
                    Ok(true) => {
                        self.log(
                            None,
                            &format!(
                                "AUTH=server, {}, authid={}, mech={mechanism}, bits=0",
                                self.relay(),
                                creds.user
                            ),
                        );
                        self.world.auth_succeeded(ip);
                        self.authed = Some(creds.user);
                        self.client.auth_type = Some(mechanism.to_string());
                        Reply::new(235, st(2, 0, 0), "OK Authenticated")
                    }
                    Ok(false) => {
                        self.log(
                            None,
                            &format!(
                                "AUTH failure ({mechanism}): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user={}, {}",
                                printable(&creds.user, 100).replace(',', "?"),
                                self.relay()
                            ),
                        );
                        // A failed AUTH is a bad command (confMXGATE_MAX_BAD_COMMANDS),
                        // and each one past the first few waits longer for its
                        // answer (an async timer: no other session waits).
                        self.errors += 1;
                        let penalty = self.world.auth_failed(ip);
                        if penalty.log_attack {
                            self.log(
                                None,
                                &format!(
                                    "{}: possible SMTP attack: command=AUTH, count={}",
                                    self.client_text(),
                                    penalty.count
                                ),
                            );
                        }
                        if !penalty.delay.is_zero() {
                            self.world.sleep(penalty.delay).await;
                        }
                        Reply::new(535, st(5, 7, 8), "Authentication failed")
                    }
                    Err(e) => {
                        self.log(
                            None,
                            &format!("AUTH failure ({mechanism}): {e}, {}", self.relay()),
                        );
                        Reply::new(454, st(4, 7, 0), "Temporary authentication failure")
                    }
                }
            }
        }
    }

    pub(super) async fn auth_step(&mut self, line: String) -> Reply {
        // The protocol session hands over a line only inside an AUTH
        // exchange; should one come without it, the exchange is over.
        let Some(state) = self.sasl.take() else {
            return Reply::new(501, st(5, 0, 0), "AUTH aborted");
        };
        let mech = self.auth_mech.clone().unwrap_or_default();
        self.sasl_step(state.next(&line), &mech).await
    }

    pub(super) async fn mail(
        &mut self,
        sender: Address,
        params: MailParams,
        settings: &Settings,
    ) -> Reply {
        let arg = display_path(&sender);
        // confPRIVACY_FLAGS needmailhelo (or goaway): sendmail 8.17's
        // srvrsmtp.c answers MAIL before HELO/EHLO with this.
        if settings.privacy.need_mail_helo && self.helo.is_empty() {
            return Reply::new(503, st(5, 0, 0), "Polite people say HELO first");
        }
        if self.auth_required() && self.authed.is_none() {
            let r = Reply::new(530, st(5, 7, 0), "Authentication required");
            self.log_reject("check_mail", &format!("<{arg}>"), &r);
            return r;
        }
        if let Some(size) = params.size {
            let max = settings.max_message_size;
            if max > 0 && size > max {
                let r = Reply::new(
                    552,
                    st(5, 2, 3),
                    "Message size exceeds fixed maximum message size",
                );
                self.log_reject("check_mail", &format!("<{arg}>"), &r);
                return r;
            }
        }
        if let Err(text) = self.world.has_room() {
            let r = Reply::new(452, st(4, 3, 1), text);
            self.log(
                None,
                &format!("{}: rejecting new messages: reject={r}", self.relay()),
            );
            return r;
        }
        // RFC 6409: the MSA qualifies bare sender addresses.
        let sender = match sender {
            Address::Mailbox(mut m) if m.domain.is_none() && self.spec.is_submission() => {
                m.domain = Some(addr::Domain::Name(self.site.hostname.clone()));
                Address::Mailbox(m)
            }
            other => other,
        };
        // sendmail's tls_client (from check_mail): a `TLS_Clt:` requirement
        // on this client: ${verify} under TLS (OK, FAIL, NO, or NOT when no
        // certificate is asked for), empty without it.
        if let Some(r) = self.tls_client_refusal() {
            self.log_reject("tls_client", &format!("<{arg}>"), &r);
            return r;
        }
        if let Some(r) = self.milter_tempfail.clone() {
            self.log(None, &format!("Milter: from=<{arg}>, reject={r}"));
            return r;
        }
        self.gather_sender_facts(&sender).await;
        let v = policy::check_mail(&self.site, &self.facts, &self.client, &sender);
        // Echoed, logged and queued as written (sendmail 8.17 -bs:
        // `MAIL FROM:<Joe@GW.Example.COM>` → `250 2.1.0 <Joe@GW.Example.COM>... Sender ok`).
        let shown = display_path(&sender);
        match &v.action {
            Action::Reject(r) | Action::TempFail(r) => {
                let reply = to_reply(r, Some(&shown));
                self.log_reject("check_mail", &format!("<{arg}>"), &reply);
                return reply;
            }
            Action::Discard => self.tx.discard = Some(v.why.to_string()),
            Action::Quarantine(reason) => self.tx.quarantine = Some(reason.clone()),
            _ => {}
        }
        let mut args = vec![format!("<{shown}>")];
        if let Some(n) = params.size {
            args.push(format!("SIZE={n}"));
        }
        match params.body {
            Body::SevenBit => {}
            Body::EightBitMime => args.push("BODY=8BITMIME".into()),
            Body::BinaryMime => args.push("BODY=BINARYMIME".into()),
        }
        if let Some(r) = params.ret {
            args.push(format!("RET={}", format!("{r:?}").to_uppercase()));
        }
        if let Some(e) = &params.envid {
            args.push(format!("ENVID={e}"));
        }
        if let Some(a) = &params.auth {
            args.push(format!("AUTH={a}"));
        }
        if params.smtputf8 {
            args.push("SMTPUTF8".into());
        }
        let id = self.world.next_id();
        // Routing the sender for the macros costs lookups: only for filters.
        let macros = if self.world.filters().is_empty() {
            Vec::new()
        } else {
            self.macros_mail(&sender, &params, &id)
        };
        let o = self.world.filters().mail(&macros, &args).await;
        let mut milter_discard = None;
        match o {
            Outcome::Discard(name) => milter_discard = Some(format!("milter {name}")),
            o => {
                if let Some(r) = self.milter_outcome("from", &format!("<{shown}>"), o) {
                    return r;
                }
            }
        }
        self.nonmail = 0;
        let discard = self.tx.discard.take().or(milter_discard);
        let quarantine = self.tx.quarantine.take();
        self.new_draft(Draft {
            sender: Some(sender),
            params,
            discard,
            quarantine,
            id: Some(id),
            ..Default::default()
        });
        Reply::new(250, st(2, 1, 0), format!("<{shown}>... Sender ok"))
    }

    /// The `TLS_Clt:` requirement this session does not meet, as a reply.
    pub(super) fn tls_client_refusal(&self) -> Option<Reply> {
        use crate::policy::tls::{TlsFacts, Verify, tls_client};
        if self.local() {
            return None;
        }
        let bits = self
            .tls
            .as_ref()
            .map_or(0, |(_, cipher)| crate::event::cipher_bits(cipher));
        let cert = self.client.cert.as_ref().filter(|_| self.tls.is_some());
        // sendmail's +CN compares ${cn_subject} with the name.
        let cn = |n: &str| {
            cert.is_some_and(|c| !c.cn_subject.is_empty() && c.cn_subject.eq_ignore_ascii_case(n))
        };
        let facts = TlsFacts {
            verify: match (&self.tls, cert) {
                (Some(_), Some(c)) => c.verify,
                (Some(_), None) => Verify::Not,
                (None, _) => Verify::Unset,
            },
            bits,
            name: &self.client.name,
            valid_for: &cn,
            subject: cert.map_or("", |c| c.subject.as_str()),
            issuer: cert.map_or("", |c| c.issuer.as_str()),
        };
        let v = tls_client(&self.site, &self.client, &facts);
        v.reply().map(|r| to_reply(r, None))
    }

    /// sendmail's `BadRcptThrottle` (`confBAD_RCPT_THROTTLE`): once that
    /// many RCPT commands of this session were refused, each further RCPT
    /// waits a second before it is answered (sendmail 8.17, srvrsmtp.c: a
    /// fixed second, not a growing one, so a prober does not just open more
    /// connections), and the first wait is logged as sendmail logs it.
    async fn bad_rcpt_throttle(&mut self, settings: &Settings) {
        let limit = settings.bad_rcpt_throttle;
        if limit == 0 || self.bad_rcpts < limit {
            return;
        }
        if self.bad_rcpts == limit {
            self.log(
                None,
                &format!(
                    "{}: Possible SMTP RCPT flood, throttling.",
                    self.client_text()
                ),
            );
            // Logged once: the count moves past the limit (sendmail does
            // the same).
            self.bad_rcpts += 1;
        }
        self.world.sleep(BAD_RCPT_DELAY).await;
    }

    pub(super) async fn rcpt(
        &mut self,
        rcpt: Mailbox,
        params: RcptParams,
        settings: &Settings,
    ) -> Reply {
        let shown = rcpt.to_written_string();
        if settings.max_rcpts > 0 && self.tx.rcpts.len() >= settings.max_rcpts {
            // A client that keeps going long past the limit is not retrying
            // in good faith: past RCPT_OVERSHOOT excess recipients each one
            // counts as a bad command (Postfix's smtpd_recipient_overshoot_limit).
            self.tx.excess_rcpts += 1;
            if self.tx.excess_rcpts > RCPT_OVERSHOOT {
                self.errors += 1;
            }
            let r = Reply::new(452, st(4, 5, 3), "Too many recipients");
            self.log_reject("check_rcpt", &format!("<{shown}>"), &r);
            return r;
        }
        let rcpt = if rcpt.domain.is_none() && self.spec.is_submission() {
            let mut r = rcpt;
            r.domain = Some(addr::Domain::Name(self.site.hostname.clone()));
            r
        } else {
            rcpt
        };
        let as_addr = Address::Mailbox(rcpt.clone());
        let v: Verdict = policy::check_rcpt(
            &self.site,
            &self.facts,
            &self.client,
            self.tx.sender.as_ref(),
            &as_addr,
        );
        match &v.action {
            Action::Reject(r) | Action::TempFail(r) => {
                let reply = to_reply(r, Some(&shown));
                self.log_reject("check_rcpt", &format!("<{shown}>"), &reply);
                return reply;
            }
            Action::Discard => self.tx.discard = Some(v.why.to_string()),
            Action::Quarantine(reason) => self.tx.quarantine = Some(reason.clone()),
            _ => {}
        }
        let mut args = vec![format!("<{shown}>")];
        if let Some(n) = params.notify {
            args.push(format!("NOTIFY={}", n.keywords()));
        }
        if let Some(o) = &params.orcpt {
            args.push(format!("ORCPT={o}"));
        }
        let macros = if self.world.filters().is_empty() {
            Vec::new()
        } else {
            self.macros_rcpt(&rcpt, &shown)
        };
        match self.world.filters().rcpt(&macros, &args).await {
            Outcome::Discard(name) => self.tx.discard = Some(format!("milter {name}")),
            o => {
                if let Some(r) = self.milter_outcome("to", &format!("<{shown}>"), o) {
                    return r;
                }
            }
        }
        self.tx.rcpts.push((rcpt, params));
        Reply::new(250, st(2, 1, 5), format!("<{shown}>... Recipient ok"))
    }

    /// Does the sender's domain resolve? Gathered at MAIL time.
    pub(super) async fn gather_sender_facts(&mut self, sender: &Address) {
        let Some(mb) = sender.mailbox() else {
            return;
        };
        // The policy judges the domain after the domaintable: resolve that
        // one (a table error is the policy's to report).
        let rewritten = match policy_domaintable(&self.site, mb) {
            Some(m) => m,
            None => mb.clone(),
        };
        let Some(domain) = rewritten.domain.as_ref().and_then(|d| d.name()) else {
            return;
        };
        if self.facts.answer(domain).is_some() {
            return;
        }
        let answer = match self.site.host_lookup_canonical(domain) {
            HostAnswer::Found(ips) => DnsAnswer::Found(ips),
            HostAnswer::NotFound => DnsAnswer::NotFound,
            HostAnswer::AskDns => match self.world.domain_exists(domain).await {
                None => return,
                Some(a) => a,
            },
        };
        self.facts.dns.insert(domain.to_string(), answer);
    }
}

/// The sender after `FEATURE(domaintable)`, when it names another host.
fn policy_domaintable(site: &Site, mb: &Mailbox) -> Option<Mailbox> {
    match crate::route::domaintable::apply(site, mb) {
        Ok(Some((m, _))) => Some(m),
        Ok(None) | Err(_) => None,
    }
}
