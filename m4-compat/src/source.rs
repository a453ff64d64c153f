//! Reading source files: the `.mc` itself, `include`d files, `DOMAIN` files.
//!
//! Contract: [`read`] returns the text of a regular file no larger than
//! [`MAX_FILE`] bytes, or a [`SourceError`] that names what is wrong without
//! quoting a byte of the file. FIFOs, devices, sockets and directories are
//! refused before they are opened (a FIFO would block the compiler, and
//! `/dev/zero` would grow it without end); the opened file is checked again
//! (`fstat`), so what is read is what was checked.
//!
//! With [`Reach::Public`] (every file pulled in by name from inside the
//! `.mc`: `include`, `sinclude`, `DOMAIN`) the file must also be readable by
//! everyone (mode `o+r`) unless it is empty. The compiler quotes source text in its messages,
//! and those messages reach the daemon's log, so it only ever reads text any
//! local user could read anyway: `include(/etc/shadow)` is refused before a
//! byte of it is read, and nothing it reads is secret. The `.mc` named on the
//! command line ([`Reach::Named`]) is the admin's own choice and is exempt.
//!
//! Nothing here protects against a file swapped between the `stat` and the
//! `open` by someone who can write the directory: the `.mc` and its includes
//! belong to the admin, and the `fstat` check still refuses what was opened.
//!
//! 8-bit input: sendmail's m4 is 8-bit clean, and field `.mc` files carry
//! comments in Latin-1, EUC-JP, ISO-2022-JP or Shift_JIS. [`decode`] keeps
//! every valid UTF-8 sequence and turns each other byte into one stand-in
//! character ([`RAW_BASE`] + byte, in Unicode's plane-16 private use area).
//! Every byte m4 gives a meaning to (quotes, `#`, `(`, `,`, `)`, names,
//! newline) is ASCII and is never part of a multi-byte UTF-8 sequence or a
//! stand-in, so the text is tokenised exactly as m4 tokenises the bytes:
//! a comment or `dnl` line swallows its stand-ins, and a value that reaches
//! the compiled configuration is checked with [`first_raw`] and refused
//! with its position (the compiled configuration is UTF-8 text).

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The largest source file read, in bytes (1 MiB). Real `.mc` files are a
/// few KB; the largest file in sendmail 8.17's `cf/` tree (`m4/proto.m4`) is
/// under 100 KB.
pub const MAX_FILE: u64 = 1024 * 1024;

/// How a file came to be read, which decides what is asked of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The file the admin named (the `.mc` on the command line).
    Named,
    /// A file named inside the `.mc` (`include`, `sinclude`, `DOMAIN`):
    /// it must also be readable by everyone.
    Public,
}

/// Why a source file was not read. The message never contains its contents.
#[derive(Debug)]
pub enum SourceError {
    /// No such file (`sinclude` ignores this one).
    NotFound,
    /// The system refused (permissions, I/O error ...).
    Io(std::io::Error),
    /// Not a regular file: a directory, FIFO, device or socket.
    NotRegular(&'static str),
    /// Larger than [`MAX_FILE`].
    TooLarge(u64),
    /// An included file that is not readable by everyone (its mode).
    Private(u32),
    /// The file changed between the check and the open.
    Changed,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::NotFound => write!(f, "no such file"),
            SourceError::Io(e) => write!(f, "{e}"),
            SourceError::NotRegular(kind) => write!(
                f,
                "refused: it is {kind}, not a regular file; only regular files are read"
            ),
            SourceError::TooLarge(n) => write!(
                f,
                "refused: {n} bytes, larger than the {MAX_FILE}-byte limit for a source file"
            ),
            SourceError::Private(mode) => write!(
                f,
                "refused: not readable by everyone (mode {:04o}); the compiler quotes source \
                 text in its messages, so an included file must hold nothing secret \
                 (chmod o+r it if it belongs in the configuration)",
                mode & 0o7777
            ),
            SourceError::Changed => write!(f, "refused: the file changed while it was opened"),
        }
    }
}

impl std::error::Error for SourceError {}

impl SourceError {
    fn from_io(e: std::io::Error) -> SourceError {
        if e.kind() == std::io::ErrorKind::NotFound {
            SourceError::NotFound
        } else {
            SourceError::Io(e)
        }
    }
}

/// Read the source file at `path` (see the module contract).
pub fn read(path: &Path, reach: Reach) -> Result<String, SourceError> {
    let meta = std::fs::metadata(path).map_err(SourceError::from_io)?;
    check(&meta, reach)?;
    let file = std::fs::File::open(path).map_err(SourceError::from_io)?;
    let opened = file.metadata().map_err(SourceError::Io)?;
    if opened.dev() != meta.dev() || opened.ino() != meta.ino() {
        return Err(SourceError::Changed);
    }
    check(&opened, reach)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(SourceError::Io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(SourceError::TooLarge(bytes.len() as u64));
    }
    Ok(decode(&bytes))
}

/// The stand-in for byte `b` (not part of valid UTF-8) is `RAW_BASE + b`.
pub const RAW_BASE: u32 = 0x10_FE00;

/// Decode file bytes 8-bit clean: valid UTF-8 as is, every other byte as
/// its stand-in character (see the module contract).
pub fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            out.push(stand_in(b));
        }
    }
    out
}

fn stand_in(b: u8) -> char {
    // RAW_BASE + 0..=255 lies inside plane 16 (U+10FE00..U+10FEFF): always a char.
    char::from_u32(RAW_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The byte a stand-in character stands for, if `c` is one.
pub fn raw_byte(c: char) -> Option<u8> {
    let v = u32::from(c);
    (RAW_BASE..RAW_BASE + 256)
        .contains(&v)
        .then(|| (v - RAW_BASE) as u8)
}

/// The first stand-in in `s`: its character index (0-based) and byte.
pub fn first_raw(s: &str) -> Option<(usize, u8)> {
    s.chars()
        .enumerate()
        .find_map(|(i, c)| raw_byte(c).map(|b| (i, b)))
}

/// What to tell the admin about a value holding non-UTF-8 bytes: `what`
/// names the value (``the value of `confDOMAIN_NAME'``), `b` is its first such byte.
pub fn raw_message(what: &str, b: u8) -> String {
    format!(
        "{what} holds non-UTF-8 bytes (the first is 0x{b:02X}): the compiled configuration is \
         UTF-8 text, so a value must be ASCII or UTF-8; convert the file (iconv -f EUC-JP -t \
         UTF-8, or from Latin-1, Shift_JIS, ISO-2022-JP ...) or keep such text in dnl or # comments, \
         where any bytes are allowed"
    )
}

fn check(meta: &std::fs::Metadata, reach: Reach) -> Result<(), SourceError> {
    let t = meta.file_type();
    if !t.is_file() {
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        return Err(SourceError::NotRegular(kind));
    }
    if meta.len() > MAX_FILE {
        return Err(SourceError::TooLarge(meta.len()));
    }
    // An empty file holds no secret: Debian's sendmailconfig creates
    // /etc/mail/m4/dialup.m4 and provider.m4 empty, mode 0640, and its
    // sendmail.mc includes both.
    if reach == Reach::Public && meta.mode() & 0o004 == 0 && meta.len() > 0 {
        return Err(SourceError::Private(meta.mode()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir() -> tempdir::Dir {
        tempdir::Dir::new("source")
    }

    /// A throwaway directory (no dev-dependency needed for so little).
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new(tag: &str) -> Dir {
                let d = std::env::temp_dir().join(format!(
                    "mxgate-m4-{tag}-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).unwrap();
                Dir(d)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_unopened() {
        let d = dir();
        for p in ["/dev/zero", "/dev/null"] {
            let e = read(Path::new(p), Reach::Named).unwrap_err();
            assert!(
                matches!(e, SourceError::NotRegular("a character device")),
                "{p}: {e}"
            );
        }
        let e = read(&d.0, Reach::Named).unwrap_err();
        assert!(matches!(e, SourceError::NotRegular("a directory")), "{e}");
        // A FIFO with no writer: opening it would block for ever.
        let fifo = d.0.join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils) is needed by this test");
        assert!(st.success());
        let e = read(&fifo, Reach::Named).unwrap_err();
        assert!(matches!(e, SourceError::NotRegular("a FIFO")), "{e}");
    }

    #[test]
    fn size_is_capped() {
        let d = dir();
        let p = d.0.join("big.m4");
        std::fs::write(&p, vec![b'x'; MAX_FILE as usize + 1]).unwrap();
        let e = read(&p, Reach::Named).unwrap_err();
        assert!(matches!(e, SourceError::TooLarge(_)), "{e}");
        std::fs::write(&p, vec![b'x'; MAX_FILE as usize]).unwrap();
        assert_eq!(read(&p, Reach::Named).unwrap().len(), MAX_FILE as usize);
    }

    #[test]
    fn includes_must_be_world_readable_and_the_message_holds_no_content() {
        let d = dir();
        let p = d.0.join("secret.m4");
        std::fs::write(&p, "root:$6$hash:20228:0:99999:7:::\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = read(&p, Reach::Public).unwrap_err();
        assert!(matches!(e, SourceError::Private(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("mode 0640") && !msg.contains("root"), "{msg}");
        // The .mc named by the admin may be private.
        assert!(read(&p, Reach::Named).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read(&p, Reach::Public).is_ok());
        // Empty and private (Debian's /etc/mail/m4/dialup.m4): nothing to leak.
        let e = d.0.join("dialup.m4");
        std::fs::write(&e, "").unwrap();
        std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(read(&e, Reach::Public).unwrap(), "");
    }

    #[test]
    fn decode_keeps_utf8_and_stands_in_for_other_bytes() {
        let s = decode(b"a\xe9b \xe6\x97\xa5 \xa4\xb3`'#\n");
        let chars: Vec<char> = s.chars().collect();
        assert_eq!(chars[0], 'a');
        assert_eq!(raw_byte(chars[1]), Some(0xE9));
        assert_eq!(chars[2], 'b');
        assert_eq!(chars[4], '\u{65E5}');
        assert_eq!(raw_byte(chars[6]), Some(0xA4));
        assert_eq!(raw_byte(chars[7]), Some(0xB3));
        assert_eq!(&chars[8..], ['`', '\'', '#', '\n']);
        assert_eq!(first_raw(&s), Some((1, 0xE9)));
        assert_eq!(first_raw("plain \u{65E5}"), None);
        // Every byte value round-trips through its stand-in.
        for b in 0x80..=0xFFu8 {
            let d = decode(&[b]);
            if std::str::from_utf8(&[b]).is_err() {
                assert_eq!(first_raw(&d), Some((0, b)));
            }
        }
    }

    #[test]
    fn missing_is_not_found() {
        let d = dir();
        assert!(matches!(
            read(&d.0.join("nothere"), Reach::Public),
            Err(SourceError::NotFound)
        ));
    }
}
