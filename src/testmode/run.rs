//! The address-test mode: `mxgate test --config FILE` and `sendmail -bt -C FILE`.
//!
//! Contract: probes in, decisions out, one per probe and in order. Two
//! front ends share one dispatcher ([`probe`]):
//!
//! * `--batch`: JSON lines on stdin; for each, one line
//!   `{"probe": <input>, "result": {...}}` (or `{"probe":..., "error": "..."}`
//!   for a probe that cannot be answered). The formats are in
//!   `docs/address-test.md`.
//! * interactive: sendmail `-bt` style commands (`/parse addr`,
//!   `/try mailer addr`, `/tryflags HS`, `/map name key`, `/expand addr`,
//!   `check_relay name $| ip`, `check_mail <addr>`, `check_rcpt <addr>`,
//!   `.D{client_addr}1.2.3.4`, `header Subject: ...`) or the same JSON
//!   probes; every answer is explained in words ("why").

use crate::site::Site;
use crate::testmode::{policy, route};
use serde_json::{Map, Value, json};
use std::io::{BufRead, Write};

/// Answer one probe (the batch protocol's `result`), or say why it is malformed.
pub fn probe(site: &Site, p: &Value) -> Result<Value, String> {
    let kind = p
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("probe has no \"kind\" (expected route, connect, mail, rcpt, masquerade, map, expand, header or body)")?;
    match kind {
        "route" => route::route(site, p),
        "masquerade" => route::masquerade(site, p),
        "expand" => route::expand(site, p),
        "connect" => policy::connect(site, p),
        "mail" => policy::mail(site, p),
        "rcpt" => policy::rcpt(site, p),
        "header" => policy::header(site, p),
        "body" => policy::body(site, p),
        "map" => map(site, p),
        other => Err(format!(
            "unknown probe kind {other:?} (expected route, connect, mail, rcpt, masquerade, map, expand, header or body)"
        )),
    }
}

/// `{"kind":"map","map":NAME,"key":K}` → `{"found":bool,"value":V|null}`.
/// `NAME` is a table role (`access`, `mailertable`, `aliases`, ...).
fn map(site: &Site, p: &Value) -> Result<Value, String> {
    let name = str_field(p, "map")?;
    let key = str_field(p, "key")?;
    let tables: Vec<_> = if name == "aliases" {
        site.alias_tables().to_vec()
    } else {
        site.table(name).cloned().into_iter().collect()
    };
    if tables.is_empty() {
        return Err(format!("the configuration has no map {name:?}"));
    }
    for t in tables {
        match t.lookup(key) {
            Ok(Some(v)) => return Ok(json!({"found": true, "value": v})),
            Ok(None) => {}
            Err(e) => return Ok(json!({"found": false, "value": null, "error": e.to_string()})),
        }
    }
    Ok(json!({"found": false, "value": null}))
}

fn str_field<'a>(p: &'a Value, name: &str) -> Result<&'a str, String> {
    p.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("probe needs a string field {name:?}"))
}

/// Run the batch protocol until end of input. Returns the number of probes that failed.
pub fn batch(site: &Site, input: &mut dyn BufRead, out: &mut dyn Write) -> std::io::Result<usize> {
    let mut failed = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(text) {
            Ok(p) => match probe(site, &p) {
                Ok(result) => json!({"probe": p, "result": result}),
                Err(e) => {
                    failed += 1;
                    json!({"probe": p, "error": e})
                }
            },
            Err(e) => {
                failed += 1;
                json!({"probe": text, "error": format!("not a JSON object: {e}")})
            }
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(failed)
}

/// The interactive state: macros set with `.D{name}value` and `/tryflags`.
#[derive(Debug, Default)]
pub struct Shell {
    macros: Map<String, Value>,
    tryflags: String,
}

/// Help text of the interactive mode.
pub const SHELL_HELP: &str = "\
Commands (sendmail -bt style):
  /parse ADDR              route a recipient: mailer, host, user, and why
  /expand ADDR             alias expansion (aliases, :include:, owner-LIST)
  /tryflags HS|HR|ES|ER    which address /try rewrites (Header/Envelope, Sender/Recipient)
  /try MAILER ADDR         masquerading/generics as MAILER would send ADDR
  /map NAME KEY            look KEY up in map NAME (access, mailertable, aliases, ...)
  .D{client_addr}IP        set a connection fact (also client_name, client_resolve,
                           daemon_flags, auth_type); .D{client_addr} alone clears it
  check_relay NAME $| IP   connection check (access Connect:, dnsbl)
  check_mail <ADDR>        sender check for the current client
  check_rcpt <ADDR>        recipient check (relaying, blocklist, users)
  header NAME: VALUE       header rules (header_checks / mime_header_checks)
  body LINE                body_checks rules
  {\"kind\": ...}            any batch-protocol JSON probe
  /quit                    leave
";

impl Shell {
    /// A fresh shell: header-sender rewriting, no client facts.
    pub fn new() -> Self {
        Shell {
            macros: Map::new(),
            tryflags: "HS".into(),
        }
    }

    /// Handle one line; returns the text to print (possibly empty), or `None` to quit.
    pub fn line(&mut self, site: &Site, line: &str) -> Option<String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Some(String::new());
        }
        if line == "/quit" || line == "/q" {
            return None;
        }
        if line == "?" || line == "help" || line == "/help" {
            return Some(SHELL_HELP.to_string());
        }
        if let Some(rest) = line.strip_prefix(".D") {
            return Some(self.set_macro(rest));
        }
        let probe = match self.parse_line(line) {
            Ok(Step::Probe(p)) => p,
            Ok(Step::Said(text)) => return Some(text),
            Err(e) => return Some(format!("error: {e}\n")),
        };
        Some(match self::probe(site, &probe) {
            Ok(v) => explain(&probe, &v),
            Err(e) => format!("error: {e}\n"),
        })
    }

    fn set_macro(&mut self, rest: &str) -> String {
        let (name, value) = match rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
            Some((n, v)) => (n.to_string(), v.trim().to_string()),
            None => return "error: expected .D{name}value\n".into(),
        };
        const KNOWN: [&str; 5] = [
            "client_addr",
            "client_name",
            "client_resolve",
            "daemon_flags",
            "auth_type",
        ];
        if !KNOWN.contains(&name.as_str()) {
            return format!(
                "error: unknown macro {{{name}}} (known: {})\n",
                KNOWN.join(", ")
            );
        }
        if value.is_empty() && name != "client_addr" {
            self.macros.remove(&name);
        } else {
            self.macros
                .insert(name.clone(), Value::String(value.clone()));
        }
        format!("{{{name}}} = {value:?}\n")
    }

    fn parse_line(&mut self, line: &str) -> Result<Step, String> {
        if line.starts_with('{') {
            return serde_json::from_str(line)
                .map(Step::Probe)
                .map_err(|e| format!("bad JSON probe: {e}"));
        }
        let (cmd, arg) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        let need = |what: &str| -> Result<(), String> {
            if arg.is_empty() {
                Err(format!("{cmd} needs {what}"))
            } else {
                Ok(())
            }
        };
        let mut p = Map::new();
        match cmd {
            "/parse" | "3,0" => {
                need("an address")?;
                p.insert("kind".into(), json!("route"));
                p.insert("addr".into(), json!(arg));
            }
            "/expand" => {
                need("an address")?;
                p.insert("kind".into(), json!("expand"));
                p.insert("addr".into(), json!(arg));
            }
            "/tryflags" => {
                let f = arg.to_ascii_uppercase();
                if !matches!(f.as_str(), "HS" | "HR" | "ES" | "ER") {
                    return Err("/tryflags takes HS, HR, ES or ER".into());
                }
                self.tryflags = f;
                return Ok(Step::Said(format!(
                    "/try now rewrites {} addresses\n",
                    where_name(&self.tryflags)
                )));
            }
            "/try" => {
                let (mailer, addr) = arg
                    .split_once(char::is_whitespace)
                    .ok_or("/try needs a mailer and an address")?;
                p.insert("kind".into(), json!("masquerade"));
                p.insert("where".into(), json!(where_name(&self.tryflags)));
                p.insert("mailer".into(), json!(mailer));
                p.insert("addr".into(), json!(addr.trim()));
            }
            "/map" => {
                let (name, key) = arg
                    .split_once(char::is_whitespace)
                    .ok_or("/map needs a map name and a key")?;
                p.insert("kind".into(), json!("map"));
                p.insert("map".into(), json!(name));
                p.insert("key".into(), json!(key.trim()));
            }
            "check_relay" => {
                let (name, ip) = arg
                    .split_once("$|")
                    .ok_or("check_relay needs `name $| address`")?;
                p = self.macros.clone();
                p.insert("kind".into(), json!("connect"));
                p.insert("client_name".into(), json!(name.trim()));
                p.insert("client_addr".into(), json!(ip.trim()));
            }
            "check_mail" => {
                need("an address")?;
                p = self.macros.clone();
                p.insert("kind".into(), json!("mail"));
                p.insert("from".into(), json!(arg));
            }
            "check_rcpt" => {
                need("an address")?;
                p = self.macros.clone();
                p.insert("kind".into(), json!("rcpt"));
                p.insert("to".into(), json!(arg));
            }
            "header" | "body" => {
                need(if cmd == "header" {
                    "a header line"
                } else {
                    "a body line"
                })?;
                p.insert("kind".into(), json!(cmd));
                p.insert("line".into(), json!(arg));
            }
            _ => return Err(format!("unknown command {cmd:?}; type ? for help")),
        }
        Ok(Step::Probe(Value::Object(p)))
    }
}

/// What one interactive line turned into.
enum Step {
    /// A probe to answer.
    Probe(Value),
    /// A setting changed; this is the acknowledgement.
    Said(String),
}

fn where_name(flags: &str) -> &'static str {
    match flags {
        "HR" => "header-recipient",
        "ES" => "envelope-sender",
        "ER" => "envelope-recipient",
        _ => "header-sender",
    }
}

/// Render a decision for a person.
pub fn explain(p: &Value, r: &Value) -> String {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    let why = r.get("why").and_then(Value::as_str);
    let kind = p.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    match kind {
        "route" if s("mailer") == "error" => {
            out += &format!(
                "error ({}): {} {} {}\n",
                s("action"),
                r.get("smtp_code").unwrap_or(&Value::Null),
                s("enhanced_code"),
                s("text")
            );
        }
        "route" => {
            let host = r.get("host").and_then(Value::as_str).unwrap_or("(local)");
            out += &format!(
                "mailer {}, host {}, user {}\n",
                s("mailer"),
                host,
                s("user")
            );
        }
        "masquerade" => out += &format!("{}\n", s("address")),
        "expand" => {
            let targets: Vec<&str> = r
                .get("targets")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out += &format!("{}\n", targets.join(", "));
            if let Some(o) = r.get("owner").and_then(Value::as_str) {
                out += &format!("  envelope sender for this list: {o}\n");
            }
        }
        "map" => {
            if r.get("found").and_then(Value::as_bool) == Some(true) {
                out += &format!("{}\n", s("value"));
            } else {
                out += "no match\n";
            }
            if let Some(e) = r.get("error").and_then(Value::as_str) {
                out += &format!("  lookup failed: {e}\n");
            }
        }
        _ => {
            let action = s("action");
            match r.get("smtp_code").and_then(Value::as_u64) {
                Some(code) => {
                    out += &format!("{action}: {code} {} {}\n", s("enhanced_code"), s("text"))
                }
                None if !s("text").is_empty() => out += &format!("{action}: {}\n", s("text")),
                None => out += &format!("{action}\n"),
            }
        }
    }
    if let Some(w) = why {
        out += &format!("  why: {w}\n");
    }
    out
}

/// Run the interactive mode until end of input or `/quit`.
pub fn interactive(
    site: &Site,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: Prompt,
) -> std::io::Result<()> {
    let mut shell = Shell::new();
    if prompt == Prompt::Show {
        writeln!(
            out,
            "mxgate address test mode ({}); ? for help",
            site.hostname
        )?;
    }
    let mut line = String::new();
    loop {
        if prompt == Prompt::Show {
            write!(out, "> ")?;
            out.flush()?;
        }
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        if prompt == Prompt::Echo {
            writeln!(out, "> {}", line.trim_end())?;
        }
        match shell.line(site, &line) {
            Some(text) => write!(out, "{text}")?,
            None => break,
        }
    }
    Ok(())
}

/// Whether the interactive mode shows a prompt (terminal) or echoes input (transcripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// A terminal: greeting and `> ` prompts.
    Show,
    /// Not a terminal: each input line echoed as `> line`, so the output reads as a transcript.
    Echo,
}
