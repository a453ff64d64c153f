//! The session's mail filters: each SMTP stage passed to every filter in
//! order, the answers turned into one outcome.
//!
//! Contract: [`Filters::for_listener`] picks the filters of a listener
//! (its `InputMailFilters=` if given, else every `INPUT_MAIL_FILTER` and
//! every `MAIL_FILTER` that `confINPUT_MAIL_FILTERS` names, in definition
//! order). Each stage method asks the open filters in order and stops at
//! the first refusal. A filter that cannot be used (not reachable, a
//! timeout, a closed connection, garbage, a negotiation that asks for an
//! action mxgate does not offer) goes to the error state and its `F=` flag
//! decides, as in sendmail: no flag, it is left out for the rest of the
//! session (logged); `F=T`, this and every later MAIL/RCPT/end of data of
//! the session get `451 4.3.2 Please try again later`; `F=R`, `550 5.7.1
//! Command rejected`. So a message is never accepted unscanned by a filter
//! with `F=T`/`F=R`. Header changes are collected from every filter and
//! applied once, after the last one answered the end of message (as
//! sendmail does); [`apply`] applies them to the message text. Log lines
//! are queued in [`Filters::take_lines`] for the connection to write.

use crate::addr::{Address, Mailbox};
use crate::config::Config;
use crate::milter::client::{Answer, Client, Step};
use crate::milter::codec::{BODY_CHUNK, Command, Family, Response, Stage, action};
use crate::milter::filter::{Filter, OnError};
use crate::proto::command::{MailParams, RcptParams};
use crate::proto::reply::{EnhancedStatus, Reply};
use std::sync::Arc;

/// Macro name → value, as sent in `SMFIC_MACRO`.
pub type Macros = Vec<(String, String)>;

/// What the filters decided about one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Go on.
    Continue,
    /// Refuse the command (or the message) with this reply; `filter` names
    /// the filter (for the log line).
    Refuse {
        /// The reply.
        reply: Reply,
        /// The filter that refused.
        filter: String,
    },
    /// Accept and drop the message (`SMFIR_DISCARD`).
    Discard(String),
}

/// One header change asked for at end of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    /// `SMFIR_ADDHEADER`: append.
    Add(String, String),
    /// `SMFIR_INSHEADER`: insert at an index (0 = first).
    Insert(u32, String, String),
    /// `SMFIR_CHGHEADER`: change the n-th field of that name (from 1);
    /// an empty value deletes it.
    Change(u32, String, String),
}

/// One envelope change asked for at end of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeChange {
    /// `SMFIR_CHGFROM`: the new sender and its ESMTP arguments.
    From(String, Option<String>),
    /// `SMFIR_ADDRCPT` / `SMFIR_ADDRCPT_PAR`: a recipient and its arguments.
    AddRcpt(String, Option<String>),
    /// `SMFIR_DELRCPT`: a recipient as given in RCPT.
    DelRcpt(String),
}

/// What the filters changed at end of message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The message (header and body) as the filters left it; `None` when
    /// no filter changed a header or the body.
    pub message: Option<Vec<u8>>,
    /// Sender and recipient changes, in the order received (filter by
    /// filter); [`apply_envelope`] applies them.
    pub envelope: Vec<EnvelopeChange>,
    /// `SMFIR_QUARANTINE`: the reason (the last one wins).
    pub quarantine: Option<String>,
}

/// sendmail 8.17's `confMILTER_MACROS_*` defaults (sendmail-cf's
/// `cf/m4/cfhead.m4`); DATA and end of headers have none.
pub const DEFAULT_MACROS: [(&str, &str); 7] = [
    (
        "confMILTER_MACROS_CONNECT",
        "j, _, {daemon_name}, {if_name}, {if_addr}",
    ),
    (
        "confMILTER_MACROS_HELO",
        "{tls_version}, {cipher}, {cipher_bits}, {cert_subject}, {cert_issuer}",
    ),
    (
        "confMILTER_MACROS_ENVFROM",
        "i, {auth_type}, {auth_authen}, {auth_ssf}, {auth_author}, {mail_mailer}, {mail_host}, {mail_addr}",
    ),
    (
        "confMILTER_MACROS_ENVRCPT",
        "{rcpt_mailer}, {rcpt_host}, {rcpt_addr}",
    ),
    ("confMILTER_MACROS_DATA", ""),
    ("confMILTER_MACROS_EOH", ""),
    ("confMILTER_MACROS_EOM", "{msg_id}"),
];

/// Values that belong to one transaction: forgotten at the next MAIL.
const TRANSACTION_MACROS: &[&str] = &[
    "i",
    "auth_author",
    "mail_mailer",
    "mail_host",
    "mail_addr",
    "rcpt_mailer",
    "rcpt_host",
    "rcpt_addr",
    "msg_id",
];

/// The macro names sent at each stage (`confMILTER_MACROS_*`, or
/// sendmail's defaults), braces removed (`{daemon_name}` → `daemon_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroLists {
    /// Connect, HELO, MAIL, RCPT, DATA, end of headers, end of message.
    lists: [Vec<String>; 7],
}

impl MacroLists {
    /// The lists a configuration sets, sendmail's defaults for the others.
    pub fn from_config(config: &Config) -> MacroLists {
        MacroLists {
            lists: DEFAULT_MACROS.map(|(option, default)| {
                crate::milter::codec::parse_macro_list(config.option(option).unwrap_or(default))
            }),
        }
    }

    /// The names sent at a stage.
    pub fn names(&self, stage: Stage) -> &[String] {
        let i = match stage {
            Stage::Connect => 0,
            Stage::Helo => 1,
            Stage::Mail => 2,
            Stage::Rcpt => 3,
            Stage::Data => 4,
            Stage::Eoh => 5,
            Stage::Eom => 6,
        };
        &self.lists[i]
    }

    /// The stage's names, in list order, that have a value in `values`;
    /// a name without a value is left out, as sendmail's
    /// `milter_send_macros` skips an undefined macro.
    pub fn pick(&self, stage: Stage, values: &Macros) -> Macros {
        pick_names(self.names(stage), values)
    }
}

/// `names`, in order, that have a value in `values`, with it.
fn pick_names(names: &[String], values: &Macros) -> Macros {
    names
        .iter()
        .filter_map(|n| {
            values
                .iter()
                .find(|(k, _)| k == n)
                .map(|(k, v)| (k.clone(), v.clone()))
        })
        .collect()
}

struct Slot {
    name: String,
    filter: Result<Arc<Filter>, String>,
    client: Option<Client>,
    /// In the error state with `F=T`/`F=R`: refuse with this from now on.
    failed: Option<Reply>,
    /// Left out for the session (accepted at connect/HELO, or failed without a flag).
    off: bool,
    /// Left out for this message (`SMFIR_ACCEPT` after MAIL).
    message_off: bool,
}

/// The filters of one SMTP session.
pub struct Filters {
    slots: Vec<Slot>,
    lines: Vec<String>,
    /// `confMILTER_MACROS_*`.
    lists: MacroLists,
    /// Every macro value defined so far in the session (sendmail's macro
    /// table): each stage sends the names of its list that have one.
    values: Macros,
    /// MAIL was sent and no end of message or abort followed.
    in_tx: bool,
}

/// sendmail's `MSG_TEMPFAIL`.
pub fn tempfail_reply() -> Reply {
    Reply::new(451, EnhancedStatus::new(4, 3, 2), "Please try again later")
}

/// sendmail's reply to `SMFIR_REJECT` and to `F=R`.
pub fn reject_reply() -> Reply {
    Reply::new(550, EnhancedStatus::new(5, 7, 1), "Command rejected")
}

/// The filters a listener runs, by name, in order (see the module header).
pub fn names_for(config: &Config, input_filters: Option<&str>) -> Vec<String> {
    let split = |l: &str| {
        l.split([',', ';'])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    if let Some(list) = input_filters {
        let wanted = split(list);
        return config
            .milters
            .iter()
            .filter(|m| wanted.contains(&m.name))
            .map(|m| m.name.clone())
            .collect();
    }
    let named = config
        .option("confINPUT_MAIL_FILTERS")
        .map(split)
        .unwrap_or_default();
    config
        .milters
        .iter()
        .filter(|m| !m.mail_filter_only || named.contains(&m.name))
        .map(|m| m.name.clone())
        .collect()
}

impl Filters {
    /// The filters of a listener (`input_filters`: its `InputMailFilters=`).
    pub fn for_listener(config: &Config, input_filters: Option<&str>) -> Filters {
        let names = names_for(config, input_filters);
        let slots = config
            .milters
            .iter()
            .filter(|m| names.contains(&m.name))
            .map(|m| Slot {
                name: m.name.clone(),
                filter: Filter::parse(m).map(Arc::new),
                client: None,
                failed: None,
                off: false,
                message_off: false,
            })
            .collect();
        Filters {
            slots,
            lines: Vec::new(),
            lists: MacroLists::from_config(config),
            values: Vec::new(),
            in_tx: false,
        }
    }

    /// No filters for this session.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The log lines since the last call.
    pub fn take_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }

    /// Put a filter in the error state; its `F=` decides (module header).
    fn fail(&mut self, i: usize, why: &str) -> Option<Reply> {
        let slot = self.slots.get_mut(i)?;
        self.lines.push(format!("Milter ({}): {why}", slot.name));
        self.lines
            .push(format!("Milter ({}): to error state", slot.name));
        if let Some(c) = slot.client.take() {
            drop(c);
        }
        let on_error = match &slot.filter {
            Ok(f) => f.on_error,
            // An unreadable definition: its flags were still compiled.
            Err(_) => OnError::TempFail,
        };
        match on_error {
            OnError::Skip => {
                slot.off = true;
                None
            }
            OnError::TempFail => {
                slot.failed = Some(tempfail_reply());
                slot.failed.clone()
            }
            OnError::Reject => {
                slot.failed = Some(reject_reply());
                slot.failed.clone()
            }
        }
    }

    /// Connect to every filter, negotiate, send the connect information.
    pub async fn connect(
        &mut self,
        macros: &Macros,
        hostname: &str,
        family: Family,
        port: u16,
        address: &str,
    ) -> Outcome {
        for i in 0..self.slots.len() {
            let filter = match &self.slots[i].filter {
                Ok(f) => f.clone(),
                Err(e) => {
                    // A definition that does not parse: temp-fail (see `fail`).
                    let e = e.clone();
                    if let Some(r) = self.fail(i, &e) {
                        return self.refused(i, r);
                    }
                    continue;
                }
            };
            match Client::open(filter).await {
                Ok(c) => self.slots[i].client = Some(c),
                Err(e) => {
                    if let Some(r) = self.fail(i, &e.to_string()) {
                        return self.refused(i, r);
                    }
                }
            }
        }
        let cmd = Command::Connect {
            hostname,
            family,
            port,
            address,
        };
        self.define(macros);
        self.each(Step::Connect, Some(Stage::Connect), &cmd, true)
            .await
    }

    fn refused(&self, i: usize, reply: Reply) -> Outcome {
        Outcome::Refuse {
            reply,
            filter: self
                .slots
                .get(i)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
        }
    }

    /// HELO/EHLO: a new greeting also ends any transaction.
    pub async fn helo(&mut self, macros: &Macros, name: &str) -> Outcome {
        self.abort().await;
        self.define(macros);
        self.each(Step::Helo, Some(Stage::Helo), &Command::Helo(name), true)
            .await
    }

    /// MAIL: `args` is `<sender>` and the ESMTP arguments.
    pub async fn mail(&mut self, macros: &Macros, args: &[String]) -> Outcome {
        self.abort().await;
        for s in &mut self.slots {
            s.message_off = false;
        }
        // A new transaction: the last one's values are gone.
        self.values
            .retain(|(n, _)| !TRANSACTION_MACROS.contains(&n.as_str()));
        self.define(macros);
        let o = self
            .each(Step::Mail, Some(Stage::Mail), &Command::Mail(args), false)
            .await;
        self.in_tx = o == Outcome::Continue;
        o
    }

    /// RCPT: `args` is `<recipient>` and the ESMTP arguments.
    pub async fn rcpt(&mut self, macros: &Macros, args: &[String]) -> Outcome {
        self.define(macros);
        self.each(Step::Rcpt, Some(Stage::Rcpt), &Command::Rcpt(args), false)
            .await
    }

    /// DATA (the command, before the message).
    pub async fn data(&mut self, macros: &Macros) -> Outcome {
        self.define(macros);
        self.each(Step::Data, Some(Stage::Data), &Command::Data, false)
            .await
    }

    /// A command mxgate does not know (`SMFIC_UNKNOWN`, the whole line), as
    /// sendmail sends it before answering `500`; a filter may answer it
    /// with its own reply.
    pub async fn unknown(&mut self, line: &str) -> Outcome {
        self.each(Step::Unknown, None, &Command::Unknown(line), false)
            .await
    }

    /// RSET, a new MAIL or HELO, the end of a refused message: `SMFIC_ABORT`.
    pub async fn abort(&mut self) {
        if !std::mem::take(&mut self.in_tx) {
            return;
        }
        for i in 0..self.slots.len() {
            let Some(c) = self.slots[i].client.as_mut() else {
                continue;
            };
            if let Err(e) = c.abort().await {
                self.fail(i, &e.to_string());
            }
        }
    }

    /// End of the session: `SMFIC_QUIT` to every open filter.
    pub async fn quit(&mut self) {
        for s in &mut self.slots {
            if let Some(c) = s.client.take() {
                c.quit().await;
            }
        }
    }

    /// The message: headers, end of headers, body, end of message, to each
    /// filter in turn; the outcome and the changes asked for (empty unless
    /// the outcome is `Continue`). As sendmail's `milter_data`, each
    /// filter's changes are applied when it has answered, so the next
    /// filter is sent the message as changed so far (headers added,
    /// changed or deleted, the body replaced); the envelope changes are
    /// collected in order for [`apply_envelope`].
    pub async fn message(&mut self, macros: &Macros, msg: &[u8]) -> (Outcome, Changes) {
        self.in_tx = false;
        self.define(macros);
        let mut changes = Changes::default();
        for i in 0..self.slots.len() {
            if let Some(r) = self.slots[i].failed.clone() {
                return (self.refused(i, r), Changes::default());
            }
            let (eoh, eom) = (self.pick(i, Stage::Eoh), self.pick(i, Stage::Eom));
            let slot = &mut self.slots[i];
            if slot.off || slot.message_off {
                continue;
            }
            let Some(client) = slot.client.as_mut() else {
                continue;
            };
            let may_replace_body = client.actions() & action::CHGBODY != 0;
            let current = changes.message.as_deref().unwrap_or(msg);
            let (headers, body) = split_message(current);
            match feed(client, (&eoh, &eom), &headers, body).await {
                Ok(None) => {}
                Ok(Some(a)) => match self.judge(i, a.reply, false) {
                    Ok(None) => {
                        let name = self.slots[i].name.clone();
                        let mut header_changes = Vec::new();
                        let mut new_body: Option<Vec<u8>> = None;
                        for act in a.actions {
                            match act {
                                Response::AddHeader { name: n, value } => {
                                    header_changes.push(HeaderChange::Add(n, value));
                                }
                                Response::InsHeader {
                                    index,
                                    name: n,
                                    value,
                                } => header_changes.push(HeaderChange::Insert(index, n, value)),
                                Response::ChgHeader {
                                    index,
                                    name: n,
                                    value,
                                } => header_changes.push(HeaderChange::Change(index, n, value)),
                                Response::Quarantine(reason) => {
                                    self.lines
                                        .push(format!("milter={name}, quarantine={reason}"));
                                    changes.quarantine = Some(reason);
                                }
                                Response::ChgFrom { sender, args } => {
                                    changes.envelope.push(EnvelopeChange::From(sender, args));
                                }
                                Response::AddRcpt { rcpt, args } => {
                                    changes.envelope.push(EnvelopeChange::AddRcpt(rcpt, args));
                                }
                                Response::DelRcpt(rcpt) => {
                                    changes.envelope.push(EnvelopeChange::DelRcpt(rcpt));
                                }
                                Response::ReplBody(chunk) => {
                                    new_body.get_or_insert_with(Vec::new).extend(chunk);
                                }
                                _ => {}
                            }
                        }
                        if new_body.is_some() && !may_replace_body {
                            // sendmail: "lied about replacing body, rejecting
                            // request and tempfailing message".
                            self.lines.push(format!(
                                "Milter ({name}): replaced the body without SMFIF_CHGBODY, message temp-failed"
                            ));
                            return (self.refused(i, tempfail_reply()), Changes::default());
                        }
                        if !header_changes.is_empty() || new_body.is_some() {
                            let current = changes.message.as_deref().unwrap_or(msg);
                            let mut out = apply(current, &header_changes, &mut self.lines);
                            if let Some(b) = new_body {
                                self.lines.push("Milter: data, replbody".to_string());
                                out = replace_body(&out, &b);
                            }
                            changes.message = Some(out);
                        }
                    }
                    Ok(Some(o)) => return (o, Changes::default()),
                    Err(r) => return (self.refused(i, r), Changes::default()),
                },
                Err(e) => {
                    if let Some(r) = self.fail(i, &e.to_string()) {
                        return (self.refused(i, r), Changes::default());
                    }
                }
            }
        }
        (Outcome::Continue, changes)
    }

    /// Define (or redefine) macro values, as sendmail's `macdefine`.
    fn define(&mut self, macros: &Macros) {
        for (name, value) in macros {
            match self.values.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => self.values.push((name.clone(), value.clone())),
            }
        }
    }

    /// The macros a stage sends to filter `i`: the list it asked for
    /// (`SMFIF_SETSYMLIST`), else the configured one, in order, with the
    /// values known.
    fn pick(&self, i: usize, stage: Stage) -> Macros {
        let asked = self
            .slots
            .get(i)
            .and_then(|s| s.client.as_ref()?.symlist(stage));
        match asked {
            Some(names) => pick_names(names, &self.values),
            None => self.lists.pick(stage, &self.values),
        }
    }

    /// One step to every open filter in order.
    async fn each(
        &mut self,
        step: Step,
        stage: Option<Stage>,
        cmd: &Command<'_>,
        session_level: bool,
    ) -> Outcome {
        for i in 0..self.slots.len() {
            // Not for HELO: the client may still say who it is; MAIL and
            // later are refused (sendmail answers HELO before the filters).
            if step != Step::Helo
                && let Some(r) = self.slots[i].failed.clone()
            {
                return self.refused(i, r);
            }
            let macros = stage.map(|s| (s, self.pick(i, s)));
            let slot = &mut self.slots[i];
            if slot.off || slot.message_off {
                continue;
            }
            let Some(client) = slot.client.as_mut() else {
                continue;
            };
            let m = macros.as_ref().map(|(s, m)| (*s, m.as_slice()));
            match client.step(step, m, cmd).await {
                Ok(None) => {}
                Ok(Some(Answer { reply, .. })) => match self.judge(i, reply, session_level) {
                    Ok(None) => {}
                    Ok(Some(o)) => return o,
                    Err(r) => return self.refused(i, r),
                },
                Err(e) => {
                    if let Some(r) = self.fail(i, &e.to_string()) {
                        return self.refused(i, r);
                    }
                }
            }
        }
        Outcome::Continue
    }

    /// A final reply: `Ok(None)` go on with the next filter, `Ok(Some)` the
    /// outcome, `Err` the filter broke the protocol and its `F=` refused.
    fn judge(
        &mut self,
        i: usize,
        reply: Response,
        session_level: bool,
    ) -> Result<Option<Outcome>, Reply> {
        let name = self.slots[i].name.clone();
        match reply {
            Response::Continue | Response::Skip => Ok(None),
            Response::Accept => {
                if session_level {
                    self.slots[i].off = true;
                } else {
                    self.slots[i].message_off = true;
                }
                Ok(None)
            }
            Response::Reject => Ok(Some(Outcome::Refuse {
                reply: reject_reply(),
                filter: name,
            })),
            Response::TempFail => Ok(Some(Outcome::Refuse {
                reply: tempfail_reply(),
                filter: name,
            })),
            Response::Discard => Ok(Some(Outcome::Discard(name))),
            Response::ReplyCode(text) => match parse_reply(&text) {
                Some(reply) => Ok(Some(Outcome::Refuse {
                    reply,
                    filter: name,
                })),
                None => match self.fail(i, &format!("bad reply code `{text}'")) {
                    Some(r) => Err(r),
                    None => Ok(None),
                },
            },
            other => match self.fail(i, &format!("unexpected reply {other:?}")) {
                Some(r) => Err(r),
                None => Ok(None),
            },
        }
    }
}

/// Headers, end of headers, body and end of message to one filter; the
/// first answer that is not "continue", or the end-of-message answer.
async fn feed(
    client: &mut Client,
    (eoh, eom): (&Macros, &Macros),
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Option<Answer>, crate::milter::client::Error> {
    let stop = |a: &Answer| !matches!(a.reply, Response::Continue);
    for (name, value) in headers {
        if let Some(a) = client
            .step(Step::Header, None, &Command::Header { name, value })
            .await?
            .filter(stop)
        {
            return Ok(Some(a));
        }
    }
    if let Some(a) = client
        .step(Step::Eoh, Some((Stage::Eoh, eoh)), &Command::Eoh)
        .await?
        .filter(stop)
    {
        return Ok(Some(a));
    }
    if client.wants(Step::Body) {
        for chunk in body.chunks(BODY_CHUNK) {
            match client.step(Step::Body, None, &Command::Body(chunk)).await? {
                Some(a) if a.reply == Response::Skip => break,
                Some(a) if stop(&a) => return Ok(Some(a)),
                _ => {}
            }
        }
    }
    client
        .step(Step::Eom, Some((Stage::Eom, eom)), &Command::BodyEob)
        .await
}

/// `SMFIR_REPLYCODE` text (`550 5.7.0 text`, lines joined by CRLF) as a
/// reply; only 4xx and 5xx are allowed, as in sendmail.
pub fn parse_reply(text: &str) -> Option<Reply> {
    let mut code = None;
    let mut status = None;
    let mut lines = Vec::new();
    for (n, line) in text.split("\r\n").enumerate() {
        if line.contains(['\r', '\n']) {
            return None;
        }
        let c: u16 = line.get(..3)?.parse().ok()?;
        if !(400..600).contains(&c) || code.is_some_and(|k| k != c) {
            return None;
        }
        code = Some(c);
        let rest = line.get(3..).unwrap_or("");
        let rest = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('-'))
            .unwrap_or(rest);
        let (st, text) = match rest.split_once(' ') {
            Some((s, t)) => (EnhancedStatus::parse(s), t),
            None => (EnhancedStatus::parse(rest), ""),
        };
        let text = match st {
            Some(s) => {
                if n == 0 {
                    status = Some(s);
                }
                text
            }
            None => rest,
        };
        lines.push(text.to_string());
    }
    let code = code?;
    // The enhanced status must agree with the code's class.
    let status = status.filter(|s| u16::from(s.class) == code / 100);
    Some(Reply {
        code,
        status,
        lines,
    })
}

/// The message split for the filters: header fields (name, value as
/// sendmail sends them: leading white space removed, folds as LF), and
/// the body. The header is the leading run of `name:` fields; the body
/// starts after the empty line, or at the first line that is not a
/// field (as sendmail's collect), so every octet reaches the filters.
pub fn split_message(msg: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = split_head(msg);
    let fields = fields(head)
        .into_iter()
        .filter_map(|raw| {
            let name = field_name(raw)?;
            let text = String::from_utf8_lossy(raw);
            let (_, value) = text.split_once(':')?;
            let value = value
                .trim_start_matches([' ', '\t'])
                .trim_end_matches(['\r', '\n'])
                .replace("\r\n", "\n");
            Some((String::from_utf8_lossy(name).into_owned(), value))
        })
        .collect();
    (fields, body)
}

/// The end of the line starting at `pos` (after its CRLF, or the end).
fn line_end(msg: &[u8], pos: usize) -> usize {
    msg.get(pos..)
        .and_then(|rest| rest.windows(2).position(|w| w == b"\r\n"))
        .map_or(msg.len(), |p| pos + p + 2)
}

/// (the header fields, each with its folds and CRLF; the body after the
/// empty line, or from the first line that is not a field).
fn split_head(msg: &[u8]) -> (&[u8], &[u8]) {
    let mut pos = 0;
    loop {
        if pos >= msg.len() {
            return (msg, &[]);
        }
        if msg[pos..].starts_with(b"\r\n") {
            return (&msg[..pos], &msg[pos + 2..]);
        }
        let mut end = line_end(msg, pos);
        if field_name(&msg[pos..end]).is_none() {
            return (&msg[..pos], &msg[pos..]);
        }
        while end < msg.len() && matches!(msg[end], b' ' | b'\t') {
            end = line_end(msg, end);
        }
        pos = end;
    }
}

/// The raw fields of a header block (each with its folds and final CRLF).
fn fields(head: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < head.len() {
        let mut end = line_end(head, pos);
        while end < head.len() && matches!(head[end], b' ' | b'\t') {
            end = line_end(head, end);
        }
        out.push(&head[pos..end]);
        pos = end;
    }
    out
}

/// A field as written to the spool: `Name: value` with the filter's
/// line breaks as folds (a line that would not start with white space
/// gets a tab, a bare CR is dropped).
fn field_text(name: &str, value: &str) -> Vec<u8> {
    let mut out = format!("{name}: ").into_bytes();
    let mut first = true;
    for l in value.split('\n') {
        let l = l.trim_end_matches('\r').replace('\r', "");
        if !first {
            out.extend_from_slice(b"\r\n");
            if !l.starts_with([' ', '\t']) {
                out.push(b'\t');
            }
        }
        out.extend_from_slice(l.as_bytes());
        first = false;
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The name of a field (`Name:` or the obsolete `Name :`), if `raw` is one.
fn field_name(raw: &[u8]) -> Option<&[u8]> {
    let colon = raw.iter().position(|b| *b == b':')?;
    let name = raw[..colon].trim_ascii_end();
    (!name.is_empty() && name.iter().all(|b| (33..=126).contains(b))).then_some(name)
}

/// The message with the header changes applied (sendmail's order: each
/// change in turn, against the headers as changed so far); the log lines
/// (`Milter add: header: ...`) go to `log`.
pub fn apply(msg: &[u8], changes: &[HeaderChange], log: &mut Vec<String>) -> Vec<u8> {
    let (head, body) = split_head(msg);
    let had_sep = head.len() < msg.len();
    let mut fields: Vec<Vec<u8>> = fields(head).into_iter().map(<[u8]>::to_vec).collect();
    // Unfolded for the log (RFC 5322 2.2.3: a fold is CRLF before white space).
    let one_line = |v: &str| v.replace("\r\n", "").replace(['\r', '\n'], " ");
    for c in changes {
        let (HeaderChange::Add(name, _)
        | HeaderChange::Insert(_, name, _)
        | HeaderChange::Change(_, name, _)) = c;
        if !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') || name.is_empty() {
            log.push(format!(
                "Milter: header change ignored: bad field name {:?}",
                name
            ));
            continue;
        }
        match c {
            HeaderChange::Add(name, value) => {
                log.push(format!("Milter add: header: {name}: {}", one_line(value)));
                fields.push(field_text(name, value));
            }
            HeaderChange::Insert(index, name, value) => {
                log.push(format!(
                    "Milter insert ({index}): header: {name}: {}",
                    one_line(value)
                ));
                let at = (*index as usize).min(fields.len());
                fields.insert(at, field_text(name, value));
            }
            HeaderChange::Change(index, name, value) => {
                let want = (*index).max(1) as usize;
                let pos = fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        field_name(f).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
                    })
                    .nth(want - 1)
                    .map(|(p, _)| p);
                match (pos, value.is_empty()) {
                    (Some(p), true) => {
                        let old = String::from_utf8_lossy(&fields[p]).trim_end().to_string();
                        log.push(format!("Milter delete: header {}", one_line(&old)));
                        fields.remove(p);
                    }
                    (Some(p), false) => {
                        log.push(format!(
                            "Milter change: header {name}: from {} to {}",
                            one_line(
                                String::from_utf8_lossy(&fields[p])
                                    .split_once(':')
                                    .map_or("", |(_, v)| v.trim())
                            ),
                            one_line(value)
                        ));
                        fields[p] = field_text(name, value);
                    }
                    (None, true) => {}
                    (None, false) => {
                        log.push(format!(
                            "Milter change (add): header: {name}: {}",
                            one_line(value)
                        ));
                        fields.push(field_text(name, value));
                    }
                }
            }
        }
    }
    let mut out = fields.concat();
    if had_sep || !body.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(body);
    out
}

/// The message with its body replaced by `new` (`SMFIR_REPLBODY`, the
/// chunks concatenated): line ends made CRLF (a bare LF gets its CR, a
/// bare CR is dropped) and a last line without one ended, so the spool
/// holds what SMTP can carry.
pub fn replace_body(msg: &[u8], new: &[u8]) -> Vec<u8> {
    let (head, _) = split_head(msg);
    let mut out = head.to_vec();
    out.extend_from_slice(b"\r\n");
    let mut prev = 0u8;
    for (i, &b) in new.iter().enumerate() {
        match b {
            b'\n' if prev != b'\r' => out.extend_from_slice(b"\r\n"),
            b'\r' if new.get(i + 1) != Some(&b'\n') => {}
            _ => out.push(b),
        }
        prev = b;
    }
    if !new.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Is `given` (a filter's `SMFIR_DELRCPT` argument) this recipient?
/// As sendmail compares: the address as given in RCPT, angle brackets
/// optional, case-insensitive.
fn same_rcpt(given: &str, rcpt: &Mailbox) -> bool {
    let g = given.trim();
    let g = g
        .strip_prefix('<')
        .and_then(|g| g.strip_suffix('>'))
        .unwrap_or(g)
        .trim();
    g.eq_ignore_ascii_case(&rcpt.to_written_string())
}

/// Apply the filters' envelope changes in order: the sender (and its
/// ESMTP arguments), recipients added (with arguments) and deleted. An
/// address or argument that does not parse is logged and left out, as
/// sendmail ignores a change it cannot parse; the log lines (sendmail's
/// `Milter chgfrom:`, `Milter add: rcpt:`, `Milter delete: rcpt`) go to
/// `log`.
pub fn apply_envelope(
    changes: &[EnvelopeChange],
    sender: &mut Address,
    params: &mut MailParams,
    rcpts: &mut Vec<(Mailbox, RcptParams)>,
    log: &mut Vec<String>,
) {
    for c in changes {
        match c {
            EnvelopeChange::From(addr, args) => {
                log.push(format!("Milter chgfrom: {addr}"));
                let parsed = Address::parse(addr);
                let new_params = args.as_deref().map(MailParams::parse).transpose();
                match (parsed, new_params) {
                    (Ok(a), Ok(p)) => {
                        *sender = a;
                        if let Some(p) = p {
                            *params = p;
                        }
                    }
                    (Err(e), _) => log.push(format!("Milter: chgfrom ignored: {e}")),
                    (_, Err(r)) => log.push(format!(
                        "Milter: chgfrom ignored: bad arguments: {}",
                        r.lines.join(" ")
                    )),
                }
            }
            EnvelopeChange::AddRcpt(addr, args) => {
                log.push(format!("Milter add: rcpt: {addr}"));
                let parsed = Address::parse(addr);
                let p = args
                    .as_deref()
                    .map(RcptParams::parse)
                    .transpose()
                    .map(Option::unwrap_or_default);
                match (parsed, p) {
                    (Ok(Address::Mailbox(m)), Ok(p)) => {
                        if !rcpts.iter().any(|(r, _)| *r == m) {
                            rcpts.push((m, p));
                        }
                    }
                    (Ok(Address::Null), _) => {
                        log.push("Milter: add rcpt ignored: null address".to_string());
                    }
                    (Err(e), _) => log.push(format!("Milter: add rcpt ignored: {e}")),
                    (_, Err(r)) => log.push(format!(
                        "Milter: add rcpt ignored: bad arguments: {}",
                        r.lines.join(" ")
                    )),
                }
            }
            EnvelopeChange::DelRcpt(addr) => {
                log.push(format!("Milter delete: rcpt {addr}"));
                rcpts.retain(|(r, _)| !same_rcpt(addr, r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes() {
        let r = parse_reply("550 5.7.0 Subject refused").unwrap();
        assert_eq!(r.to_wire(), b"550 5.7.0 Subject refused\r\n");
        let r = parse_reply("451-4.7.1 first\r\n451 4.7.1 second").unwrap();
        assert_eq!(r.to_wire(), b"451-4.7.1 first\r\n451 4.7.1 second\r\n");
        assert_eq!(parse_reply("250 2.0.0 ok"), None);
        assert_eq!(parse_reply("55x nope"), None);
        assert_eq!(parse_reply(""), None);
        assert_eq!(parse_reply("550 5.7.1 a\nRCPT TO:<x@y>"), None);
        let r = parse_reply("554 no status").unwrap();
        assert_eq!(r.to_wire(), b"554 no status\r\n");
    }

    #[test]
    fn split_and_apply_headers() {
        let msg = b"Subject: hello\r\nX-Long: a\r\n b\r\nTo: x@y\r\n\r\nbody\r\n";
        let (h, b) = split_message(msg);
        assert_eq!(
            h,
            vec![
                ("Subject".into(), "hello".into()),
                ("X-Long".into(), "a\n b".into()),
                ("To".into(), "x@y".into())
            ]
        );
        assert_eq!(b, b"body\r\n");
        let mut log = Vec::new();
        let out = apply(
            msg,
            &[
                HeaderChange::Add("X-Scanned".into(), "yes".into()),
                HeaderChange::Change(1, "subject".into(), "[scanned] hello".into()),
                HeaderChange::Change(1, "X-Long".into(), String::new()),
                HeaderChange::Insert(0, "X-First".into(), "1".into()),
            ],
            &mut log,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "X-First: 1\r\nsubject: [scanned] hello\r\nTo: x@y\r\nX-Scanned: yes\r\n\r\nbody\r\n"
        );
        assert_eq!(log[0], "Milter add: header: X-Scanned: yes");
        assert_eq!(
            log[1],
            "Milter change: header subject: from hello to [scanned] hello"
        );
        assert_eq!(log[2], "Milter delete: header X-Long: a b");
    }

    #[test]
    fn the_body_starts_at_the_first_line_that_is_not_a_field() {
        let msg = b"Subject : old style\r\nnot a header\r\nX-Hidden: x\r\n\r\nrest\r\n";
        let (h, b) = split_message(msg);
        assert_eq!(h, vec![("Subject".into(), "old style".into())]);
        assert_eq!(b, b"not a header\r\nX-Hidden: x\r\n\r\nrest\r\n");
        let mut log = Vec::new();
        let out = apply(
            msg,
            &[HeaderChange::Add("X-A".into(), "1".into())],
            &mut log,
        );
        assert_eq!(
            out,
            b"Subject : old style\r\nX-A: 1\r\n\r\nnot a header\r\nX-Hidden: x\r\n\r\nrest\r\n"
        );
        let (h, b) = split_message(b"Subject: only headers\r\n");
        assert_eq!(h.len(), 1);
        assert!(b.is_empty());
    }

    #[test]
    fn a_bad_field_name_is_not_written() {
        let mut log = Vec::new();
        let out = apply(
            b"A: 1\r\n\r\nb\r\n",
            &[
                HeaderChange::Add("X-Bad:\r\nBcc".into(), "x".into()),
                HeaderChange::Add("".into(), "x".into()),
                HeaderChange::Add("X Space".into(), "x".into()),
            ],
            &mut log,
        );
        assert_eq!(out, b"A: 1\r\n\r\nb\r\n");
        assert_eq!(log.len(), 3);
        assert!(log[0].starts_with("Milter: header change ignored: bad field name"));
    }

    #[test]
    fn no_headers_and_folded_additions() {
        let mut log = Vec::new();
        let out = apply(
            b"\r\nbody only\r\n",
            &[HeaderChange::Add("X-A".into(), "one\ntwo".into())],
            &mut log,
        );
        assert_eq!(out, b"X-A: one\r\n\ttwo\r\n\r\nbody only\r\n");
    }

    #[test]
    fn replaced_bodies_get_crlf_line_ends() {
        let msg = b"Subject: x\r\n\r\nold\r\n";
        assert_eq!(
            replace_body(msg, b"one\ntwo\r\nthree\rfour"),
            b"Subject: x\r\n\r\none\r\ntwo\r\nthreefour\r\n"
        );
        assert_eq!(replace_body(msg, b""), b"Subject: x\r\n\r\n");
    }

    #[test]
    fn envelope_changes_in_order() {
        let mut sender = Address::parse("<a@example.org>").unwrap();
        let mut params = MailParams::default();
        let mb = |s: &str| Address::parse(s).unwrap().mailbox().unwrap().clone();
        let mut rcpts = vec![
            (mb("<Alice@Example.com>"), RcptParams::default()),
            (mb("<bob@example.com>"), RcptParams::default()),
        ];
        let mut log = Vec::new();
        apply_envelope(
            &[
                EnvelopeChange::From("<b@example.net>".into(), Some("RET=HDRS".into())),
                EnvelopeChange::AddRcpt("<c@example.com>".into(), Some("NOTIFY=NEVER".into())),
                EnvelopeChange::DelRcpt("ALICE@example.COM".into()),
                EnvelopeChange::AddRcpt("<bad".into(), None),
                EnvelopeChange::From("<x@y>".into(), Some("FOO=1".into())),
            ],
            &mut sender,
            &mut params,
            &mut rcpts,
            &mut log,
        );
        assert_eq!(sender, Address::parse("<b@example.net>").unwrap());
        assert_eq!(params.ret, Some(crate::proto::command::Ret::Hdrs));
        let left: Vec<String> = rcpts.iter().map(|(r, _)| r.to_written_string()).collect();
        assert_eq!(left, vec!["bob@example.com", "c@example.com"]);
        assert!(rcpts[1].1.notify.is_some_and(|n| n.is_never()));
        assert_eq!(log[0], "Milter chgfrom: <b@example.net>");
        assert_eq!(log[1], "Milter add: rcpt: <c@example.com>");
        assert_eq!(log[2], "Milter delete: rcpt ALICE@example.COM");
        assert!(log[4].starts_with("Milter: add rcpt ignored"), "{log:?}");
        assert!(
            log[6].starts_with("Milter: chgfrom ignored: bad arguments"),
            "{log:?}"
        );
    }

    #[test]
    fn macro_lists_default_to_sendmail_and_skip_undefined_values() {
        let config = Config::default();
        let lists = MacroLists::from_config(&config);
        assert_eq!(
            lists.names(Stage::Connect),
            ["j", "_", "daemon_name", "if_name", "if_addr"]
        );
        assert_eq!(lists.names(Stage::Eom), ["msg_id"]);
        assert!(lists.names(Stage::Data).is_empty());
        let values: Macros = vec![
            ("daemon_name".into(), "MTA".into()),
            ("j".into(), "mx.example".into()),
            ("client_addr".into(), "192.0.2.1".into()),
        ];
        assert_eq!(
            lists.pick(Stage::Connect, &values),
            vec![
                ("j".to_string(), "mx.example".to_string()),
                ("daemon_name".to_string(), "MTA".to_string())
            ]
        );
        let mut config = Config::default();
        config
            .options
            .insert("confMILTER_MACROS_CONNECT".into(), "{client_addr} j".into());
        let lists = MacroLists::from_config(&config);
        assert_eq!(
            lists.pick(Stage::Connect, &values),
            vec![
                ("client_addr".to_string(), "192.0.2.1".to_string()),
                ("j".to_string(), "mx.example".to_string())
            ]
        );
    }
}
