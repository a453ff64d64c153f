//! Manual pages rendered from the `--help` texts: one definition per option.
//!
//! Contract: [`page`] turns a command's `--help` text (the same string the
//! command prints) into a roff `man(7)` page: the `Usage:` lines become
//! SYNOPSIS, the rest DESCRIPTION, with indented lines (option lists,
//! tables) kept as they are laid out (`.nf`). [`mc_page`] renders the
//! `.mc` names from `mxgate_m4::support` (the table docs/mc.md section 9 is
//! checked against) as `mxgate.mc(5)`. Nothing here reads files or the
//! clock: the same input gives the same page (reproducible builds).
//! `mxgate man PAGE` (main.rs) prints them; debian/rules installs them.

/// One page: `name(section)`, its NAME line and the help text.
pub fn page(name: &str, section: u8, summary: &str, help: &str, version: &str) -> String {
    let mut out = header(name, section, version);
    out.push_str(&format!(
        ".SH NAME\n{} \\- {}\n",
        escape(name),
        escape(summary)
    ));
    let lines: Vec<&str> = help.lines().collect();
    // The synopsis: the `Usage:` line and the indented lines that continue it.
    let mut i = 0;
    let mut synopsis = Vec::new();
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    if let Some(first) = lines.get(i)
        && first.to_ascii_lowercase().starts_with("usage:")
    {
        synopsis.push(first["usage:".len()..].trim());
        i += 1;
        while let Some(l) = lines.get(i) {
            if l.trim().is_empty() || !l.starts_with(' ') {
                break;
            }
            synopsis.push(l.trim());
            i += 1;
        }
    }
    if !synopsis.is_empty() {
        out.push_str(".SH SYNOPSIS\n.nf\n");
        for s in &synopsis {
            out.push_str(&line(s));
        }
        out.push_str(".fi\n");
    }
    out.push_str(".SH DESCRIPTION\n");
    let mut in_block = false;
    let mut at_paragraph = true;
    for l in &lines[i..] {
        if l.trim().is_empty() {
            if in_block {
                out.push_str(".fi\n");
                in_block = false;
            }
            if !at_paragraph {
                out.push_str(".PP\n");
                at_paragraph = true;
            }
            continue;
        }
        let indented = l.starts_with(' ') || l.starts_with('\t');
        if indented && !in_block {
            out.push_str(".nf\n");
            in_block = true;
        } else if !indented && in_block {
            out.push_str(".fi\n");
            in_block = false;
        }
        out.push_str(&line(if in_block { l } else { l.trim() }));
        at_paragraph = false;
    }
    if in_block {
        out.push_str(".fi\n");
    }
    out.push_str(&see_also());
    out
}

/// A page that is another page (`.so`), as hoststat(8) is sendmail(8).
pub fn alias(target_section: u8, target: &str) -> String {
    format!(".so man{target_section}/{target}.{target_section}\n")
}

/// `mxgate.mc(5)`: every `.mc` name mxgate knows, with what it does.
pub fn mc_page(version: &str) -> String {
    use mxgate_m4::support::{self, Support};
    let mut out = header("mxgate.mc", 5, version);
    out.push_str(".SH NAME\nmxgate.mc \\- the sendmail .mc options mxgate reads\n");
    out.push_str(
        ".SH DESCRIPTION\n\
         mxgate is configured with a sendmail .mc file (/etc/mail/mxgate.mc in \
         the Debian package), compiled by \\fBmxgate compile\\fR and read by \
         \\fBmxgate daemon\\fR. Every name below is one the compiler accepts. \
         \\fIimplemented\\fR: it has sendmail's effect. \\fIwarned\\fR: it \
         compiles, mxgate does not do it, and compile, check and the daemon \
         say so with file:line. \\fIrefused\\fR: the daemon does not start \
         while it is set. A sendmail option not listed is warned about. The \
         full guide is /usr/share/doc/mxgate/mc.md.gz.\n",
    );
    let mark = |s: Support| match s {
        Support::Implemented => "implemented".to_string(),
        Support::Warned(why) => format!("warned: {why}"),
        Support::Refused(why) => format!("refused: {why}"),
    };
    let mut section = |title: &str, rows: &mut dyn Iterator<Item = (String, String)>| {
        out.push_str(&format!(".SH {}\n", escape(title)));
        for (name, what) in rows {
            out.push_str(&format!(".TP\n.B {}\n", escape(&name)));
            out.push_str(&line(&what));
        }
    };
    section(
        "FEATURES",
        &mut support::FEATURES
            .iter()
            .map(|(n, s)| (format!("FEATURE(`{n}')"), mark(*s))),
    );
    section(
        "MACROS",
        &mut support::MACROS
            .iter()
            .map(|(n, s)| (n.to_string(), mark(*s))),
    );
    section(
        "DAEMON_OPTIONS SETTINGS",
        &mut support::DAEMON_SETTINGS
            .iter()
            .map(|(n, s)| (n.to_string(), mark(*s))),
    );
    section(
        "SENDMAIL OPTIONS",
        &mut support::OPTIONS
            .iter()
            .map(|(n, s)| (n.to_string(), mark(*s))),
    );
    section(
        "MXGATE OPTIONS",
        &mut support::MXGATE_OPTIONS
            .iter()
            .map(|n| (n.to_string(), "implemented (mxgate's own)".to_string())),
    );
    out.push_str(&see_also());
    out
}

fn header(name: &str, section: u8, version: &str) -> String {
    format!(
        ".\\\" Generated by `mxgate man` from the --help text; do not edit.\n\
         .TH \"{}\" \"{section}\" \"\" \"mxgate {}\" \"mxgate\"\n\
         .nh\n",
        name.to_ascii_uppercase(),
        escape(version)
    )
}

fn see_also() -> String {
    ".SH SEE ALSO\n\\fBmxgate\\fR(8), \\fBmxgate.mc\\fR(5), \
     /usr/share/doc/mxgate/\n"
        .to_string()
}

/// One output line of text: escaped, never read as a request.
fn line(text: &str) -> String {
    let e = escape(text);
    if e.starts_with('.') || e.starts_with('\'') {
        format!("\\&{e}\n")
    } else {
        format!("{e}\n")
    }
}

/// Backslashes and minus signs as roff wants them.
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "\
Usage: tool [-x] FILE
            [--long]

First paragraph: a backslash \\ and
.a line that starts with a dot.

Options:
  -x        the x option
";

    #[test]
    fn usage_is_the_synopsis_and_indented_lines_stay_laid_out() {
        let p = page("tool", 8, "does things", HELP, "1.0");
        assert!(p.starts_with(".\\\" Generated"), "{p}");
        assert!(p.contains(".TH \"TOOL\" \"8\" \"\" \"mxgate 1.0\" \"mxgate\"\n"));
        assert!(p.contains(".SH NAME\ntool \\- does things\n"));
        assert!(
            p.contains(".SH SYNOPSIS\n.nf\ntool [\\-x] FILE\n[\\-\\-long]\n.fi\n"),
            "{p}"
        );
        assert!(p.contains("a backslash \\e and\n\\&.a line"), "{p}");
        assert!(
            p.contains("Options:\n.nf\n  \\-x        the x option\n.fi\n"),
            "{p}"
        );
    }

    #[test]
    fn the_mc_page_lists_every_feature_and_option() {
        let p = mc_page("1.0");
        for (n, _) in mxgate_m4::support::FEATURES {
            assert!(p.contains(&format!(".B FEATURE(`{}')\n", escape(n))), "{n}");
        }
        for (n, _) in mxgate_m4::support::OPTIONS {
            assert!(p.contains(&format!(".B {}\n", escape(n))), "{n}");
        }
        assert!(p.contains("warned: "), "at least one warned name");
    }
}
