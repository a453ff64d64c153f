//! The mail filters' stages and macros.

use super::*;
use crate::milter::codec::Family;
use crate::smtpd::milters::{Macros, Outcome};

impl<W: World> Session<W> {
    /// Connect to the mail filters and send them the client.
    pub(super) async fn milter_connect(&mut self) {
        let mut macros: Macros = vec![
            ("j".into(), self.site.hostname.clone()),
            ("_".into(), self.client_text()),
            ("daemon_name".into(), self.spec.name.clone()),
            (
                "client_addr".into(),
                if self.unix() {
                    self.ip_text()
                } else {
                    self.peer.ip().to_string()
                },
            ),
            ("client_name".into(), self.client.name.clone()),
        ];
        // sendmail (getrequests): {if_name} is the name of our end of a
        // network connection (hostnamebyanyaddr), {if_addr} its address
        // unless it is in the loopback net, IPv6 tagged `IPv6:`.
        if let Some(ip) = self.local_addr.map(|a| a.ip()).filter(|_| !self.unix()) {
            let name = self.world.address_name(ip).await;
            macros.push(("if_name".into(), name));
            if !ip.is_loopback() {
                macros.push(("if_addr".into(), addr::sendmail_ip(&ip)));
            }
        }
        let (family, port, address) = if self.local() {
            (Family::Unknown, 0, String::new())
        } else if self.unix() {
            // sendmail sends the peer's socket path: empty for a client's
            // unnamed socket.
            (Family::Local, 0, String::new())
        } else {
            macros.push(("client_port".into(), self.peer.port().to_string()));
            let family = match self.peer.ip() {
                IpAddr::V4(_) => Family::Inet,
                IpAddr::V6(_) => Family::Inet6,
            };
            (family, self.peer.port(), self.peer.ip().to_string())
        };
        let host = if self.local() || self.unix() {
            "localhost".to_string()
        } else {
            self.client.name.clone()
        };
        let o = self
            .world
            .filters()
            .connect(&macros, &host, family, port, &address)
            .await;
        self.milter_log();
        match o {
            Outcome::Continue => {}
            Outcome::Discard(name) => self.tx.discard = Some(format!("milter {name}")),
            Outcome::Refuse { reply, filter } => {
                let (what, transient) = if reply.is_transient() {
                    ("temporary failing commands", true)
                } else {
                    ("rejecting commands", false)
                };
                self.log(
                    None,
                    &format!(
                        "milter={filter}, Milter: connect: host={}, addr={}, {what}",
                        self.client.name,
                        self.ip_text()
                    ),
                );
                if transient {
                    self.milter_tempfail = Some(reply);
                } else {
                    self.refused = Some(reply);
                }
            }
        }
    }

    /// The macro values known at HELO (the filters send those their
    /// `confMILTER_MACROS_HELO` names).
    pub(super) fn macros_helo(&self) -> Macros {
        let Some((version, cipher)) = &self.tls else {
            return Vec::new();
        };
        let mut m: Macros = vec![
            ("tls_version".into(), version.clone()),
            ("cipher".into(), cipher.clone()),
            (
                "cipher_bits".into(),
                crate::event::cipher_bits(cipher).to_string(),
            ),
        ];
        if let Some(c) = &self.client.cert {
            m.push(("verify".into(), c.verify.as_str().to_string()));
            if !c.subject.is_empty() {
                m.push(("cert_subject".into(), c.subject.clone()));
                m.push(("cert_issuer".into(), c.issuer.clone()));
                m.push(("cn_subject".into(), c.cn_subject.clone()));
                m.push(("cn_issuer".into(), c.cn_issuer.clone()));
            }
        }
        m
    }

    /// The macro values known at MAIL: the queue id `i`, the sender as
    /// sendmail resolves it (`{mail_mailer}`, `{mail_host}`,
    /// `{mail_addr}`: the mailer's user part), the authentication.
    pub(super) fn macros_mail(
        &self,
        sender: &Address,
        params: &MailParams,
        id: &spool::QueueId,
    ) -> Macros {
        let mut m: Macros = vec![("i".into(), id.as_str().to_string())];
        m.extend(self.resolved_macros("mail", sender));
        if let Some(t) = &self.client.auth_type {
            m.push(("auth_type".into(), t.clone()));
        }
        if let Some(u) = &self.authed {
            m.push(("auth_authen".into(), u.clone()));
            if let Some(a) = &params.auth {
                m.push(("auth_author".into(), a.clone()));
            }
        }
        m
    }

    /// The macro values known at RCPT: `{rcpt_mailer}`, `{rcpt_host}`,
    /// `{rcpt_addr}` as sendmail resolves the recipient.
    pub(super) fn macros_rcpt(&self, rcpt: &Mailbox, shown: &str) -> Macros {
        let m = self.resolved_macros("rcpt", &Address::Mailbox(rcpt.clone()));
        if m.is_empty() {
            return vec![("rcpt_addr".into(), shown.to_string())];
        }
        m
    }

    /// `{P_mailer}`, `{P_host}`, `{P_addr}` from the route of `a` (the
    /// null sender: `{mail_addr}` empty, as sendmail); nothing when it
    /// does not resolve to a mailer.
    pub(super) fn resolved_macros(&self, prefix: &str, a: &Address) -> Macros {
        if *a == Address::Null {
            return vec![(format!("{prefix}_addr"), String::new())];
        }
        match crate::route::resolve(&self.site, a) {
            Ok((crate::route::Resolution::Deliver(r), _)) => {
                let mut m: Macros = vec![(format!("{prefix}_mailer"), r.mailer.clone())];
                if let Some(h) = &r.host {
                    m.push((format!("{prefix}_host"), h.clone()));
                }
                m.push((format!("{prefix}_addr"), r.user.clone()));
                m
            }
            _ => Vec::new(),
        }
    }

    /// Write the filters' queued log lines.
    pub(super) fn milter_log(&mut self) {
        for l in self.world.filters().take_lines() {
            self.log(None, &l);
        }
    }

    /// A filter outcome at a stage (`from`, `to`, `helo`, `data`) as the
    /// reply to send (`None`: go on); logged as sendmail does.
    pub(super) fn milter_outcome(&mut self, what: &str, arg: &str, o: Outcome) -> Option<Reply> {
        self.milter_log();
        match o {
            Outcome::Continue => None,
            Outcome::Discard(name) => {
                self.log(None, &format!("milter={name}, Milter: {what}, discard"));
                self.tx.discard = Some(format!("milter {name}"));
                None
            }
            Outcome::Refuse { reply, filter } => {
                let stage = if arg.is_empty() {
                    what.to_string()
                } else {
                    format!("{what}={arg}")
                };
                self.log(
                    None,
                    &format!("milter={filter}, action={what}, reject={reply}"),
                );
                self.log(
                    None,
                    &format!("Milter: {stage}, {}, reject={reply}", self.relay()),
                );
                Some(reply)
            }
        }
    }

    pub(super) fn log_reject(&self, ruleset: &str, arg: &str, reply: &Reply) {
        self.log(
            None,
            &format!(
                "ruleset={ruleset}, arg1={arg}, {}, reject={reply}",
                self.relay()
            ),
        );
    }
}
