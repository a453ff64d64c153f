//! `mxgate report [OPTIONS] [FILE...]`: summarise mail logs (pflogsumm for
//! mxgate and sendmail).
//!
//! Contract: reads each FILE (plain or gzip, told by its first two bytes,
//! not its name; `-` or no FILE = standard input) line by line into one
//! [`Tally`], then prints the summary. Several files may come from several
//! nodes: the syslog host field tells them apart. Exit 0 with a report,
//! 64 on a usage error, 66 when a file cannot be read, 65 when a
//! `--metrics-history` file has a bad line (`FILE:LINE:COL: what`; nothing
//! is printed then). `--html` prints one self-contained page
//! (`report::html`), with queue depth over time when `--metrics-history`
//! files are given. Syslog stamps carry no year: the year is today's (UTC), or last
//! year's for a month later than the current one; `--year` fixes it.

use crate::report::history::History;
use crate::report::render::{Format, render};
use crate::report::stamp::Stamp;
use crate::report::tally::{Tally, Window};
use std::io::{BufRead, BufReader, Read, Write};

const HELP: &str = "\
Usage: mxgate report [OPTIONS] [FILE...]

Summarise mail logs written by mxgate or sendmail (any syslog file; plain or
gzip; several files, from several nodes, at once; no FILE or - = stdin).

Options:
  --format text|json|csv|html
                           output format (default text); --json, --csv, --html
                           (html: one self-contained page, inline SVG charts of
                           refusals per day and weekday by reason, sizes, hourly
                           traffic, and the text report's tables)
  --metrics-history FILE   with --html: also chart queue depth by state over
                           time from FILE (repeatable): the JSON lines
                           `mxgate health --json` prints, appended by cron
                           (*/5 * * * * mxgate health --json >> /var/log/mxgate/health.jsonl),
                           or a Prometheus /api/v1/query_range answer for
                           mxgate_queue_messages
  --since WHEN             count lines at or after WHEN
  --until WHEN             count lines before WHEN
                           (WHEN: YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]', log's local time)
  --top N                  rows in the top-senders/recipients/hosts tables (default 10)
  --year YYYY              the year of syslog stamps (default: this year, or
                           last year for months later than this one)
  --program NAME           also count lines of this program tag (repeatable;
                           mxgate, sm-mta, sendmail, sm-msp-queue are counted)

Example (cron, yesterday's log mailed to postmaster):
  mxgate report --since \"$(date -d yesterday +%F)\" --until \"$(date +%F)\" \\
      /var/log/mail.log /var/log/mail.log.1 | mxgate sendmail -t ...

Example (a page with charts, and the queue history a cron line keeps):
  mxgate report --html --metrics-history /var/log/mxgate/health.jsonl \\
      /var/log/mail.log > report.html
";

#[derive(Debug)]
struct Args {
    files: Vec<String>,
    format: Format,
    window: Window,
    top: usize,
    history: Vec<String>,
}

fn today() -> (u16, u8) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, ..) = crate::spool::ids::civil(now);
    (
        u16::try_from(y).unwrap_or(1970),
        u8::try_from(m).unwrap_or(1),
    )
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        files: Vec::new(),
        format: Format::Text,
        window: Window::new(today()),
        top: 10,
        history: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => a.format = Format::Json,
            "--csv" => a.format = Format::Csv,
            "--html" => a.format = Format::Html,
            "--metrics-history" => a.history.push(value("--metrics-history")?),
            "--format" => {
                a.format = match value("--format")?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    "html" => Format::Html,
                    f => return Err(format!("unknown format {f:?} (text, json, csv, html)")),
                }
            }
            "--since" | "--until" => {
                let v = value(arg)?;
                let s = Stamp::parse_bound(&v)
                    .ok_or_else(|| format!("{arg} {v:?}: expected YYYY-MM-DD[ HH:MM[:SS]]"))?;
                if arg == "--since" {
                    a.window.since = Some(s);
                } else {
                    a.window.until = Some(s);
                }
            }
            "--top" => {
                let v = value("--top")?;
                a.top = v
                    .parse()
                    .map_err(|_| format!("--top {v:?}: expected a number"))?;
            }
            "--year" => {
                let v = value("--year")?;
                let y: u16 = v
                    .parse()
                    .ok()
                    .filter(|y| *y >= 1970)
                    .ok_or_else(|| format!("--year {v:?}: expected a year"))?;
                a.window.reference = (y, 12);
            }
            "--program" => a.window.programs.push(value("--program")?),
            "-" => a.files.push("-".into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s:?}")),
            f => a.files.push(f.to_string()),
        }
    }
    if a.files.is_empty() {
        a.files.push("-".into());
    }
    if !a.history.is_empty() && a.format != Format::Html {
        return Err("--metrics-history is drawn only in the --html page".into());
    }
    Ok(Some(a))
}

/// Count every line of `input` (gzip or plain) into `tally`.
pub fn read_into(input: &mut dyn Read, tally: &mut Tally, w: &Window) -> std::io::Result<()> {
    let mut r = BufReader::with_capacity(1 << 16, input);
    let gz = r.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    if gz {
        let d = flate2::bufread::MultiGzDecoder::new(r);
        lines(BufReader::with_capacity(1 << 16, d), tally, w)
    } else {
        lines(r, tally, w)
    }
}

fn lines(mut r: impl BufRead, tally: &mut Tally, w: &Window) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        match std::str::from_utf8(&buf) {
            Ok(s) => tally.add(s, w),
            Err(_) => tally.add(&String::from_utf8_lossy(&buf), w),
        }
    }
}

/// The `mxgate report` command.
pub fn run(args: &[String], stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let a = match parse(args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = write!(out, "{HELP}");
            return 0;
        }
        Err(e) => {
            let _ = write!(err, "mxgate report: {e}\n\n{HELP}");
            return 64;
        }
    };
    // The history first: a bad line stops before the logs are read.
    let mut history: Option<History> = None;
    for f in &a.history {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(err, "mxgate report: {f}: {e}");
                return 66;
            }
        };
        match History::parse(&text) {
            Ok(h) => history.get_or_insert_with(History::default).merge(h),
            Err(e) => {
                let _ = writeln!(err, "mxgate report: {f}:{e}");
                return 65;
            }
        }
    }
    let mut tally = Tally::new();
    for f in &a.files {
        let res = if f == "-" {
            read_into(stdin, &mut tally, &a.window)
        } else {
            std::fs::File::open(f).and_then(|mut file| read_into(&mut file, &mut tally, &a.window))
        };
        if let Err(e) = res {
            let _ = writeln!(err, "mxgate report: {f}: {e}");
            return 66;
        }
    }
    let summary = tally.summary(a.top);
    let page = match a.format {
        Format::Html => crate::report::html::page(&summary, history.as_ref()),
        f => render(&summary, f),
    };
    let _ = out.write_all(page.as_bytes());
    0
}
