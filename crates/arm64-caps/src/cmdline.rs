//! The kernel command line (`/chosen/bootargs`).
//!
//! Arguments are separated by white space; each is `key` or `key=value`. Parsing never
//! fails: every argument is handed to whichever part of the kernel owns its key, and one
//! that no part owns is reported as unknown, never ignored. The command line arrives as
//! bytes ([`parse_bytes`]): an argument that is not UTF-8 is handed back as such, to be
//! reported, and the others still apply. [`Escaped`] prints any of it with control
//! characters and invalid bytes escaped, so nothing from the command line reaches a console
//! raw.

/// One argument of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootArg<'a> {
    /// The text before the first `=` (the whole argument when there is none).
    pub key: &'a str,
    /// The text after the first `=`, if there is one (possibly empty).
    pub value: Option<&'a str>,
}

/// The argument as written, control characters escaped.
impl core::fmt::Display for BootArg<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        Escaped(self.key.as_bytes()).fmt(f)?;
        if let Some(value) = self.value {
            write!(f, "={}", Escaped(value.as_bytes()))?;
        }
        Ok(())
    }
}

/// Bytes from the command line, printable: printable ASCII and valid UTF-8 text as they are,
/// control characters and bytes that are not UTF-8 as `\xNN`.
pub struct Escaped<'a>(pub &'a [u8]);

impl core::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    for byte in c.encode_utf8(&mut [0; 4]).bytes() {
                        write!(f, "\\x{byte:02x}")?;
                    }
                } else {
                    write!(f, "{c}")?;
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// The arguments of a command line given as bytes, in order: each UTF-8 argument parsed,
/// each other one handed back whole (`Err`) for the caller to report.
pub fn parse_bytes(cmdline: &[u8]) -> impl Iterator<Item = Result<BootArg<'_>, &[u8]>> {
    cmdline.split(u8::is_ascii_whitespace).filter(|arg| !arg.is_empty()).map(
        |arg| match core::str::from_utf8(arg) {
            Ok(text) => Ok(split_arg(text)),
            Err(_) => Err(arg),
        },
    )
}

fn split_arg(arg: &str) -> BootArg<'_> {
    match arg.split_once('=') {
        Some((key, value)) => BootArg { key, value: Some(value) },
        None => BootArg { key: arg, value: None },
    }
}

/// The arguments of `cmdline`, in order.
pub fn parse(cmdline: &str) -> impl Iterator<Item = BootArg<'_>> {
    cmdline.split_ascii_whitespace().map(split_arg)
}

/// Why an argument was not accepted by the part of the kernel that owns its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// No part of the kernel owns this key.
    Unknown,
    /// The key is known but needs a value and has none.
    MissingValue,
    /// The value is not of the form the key takes; the text says what it takes.
    Malformed(&'static str),
}

impl core::fmt::Display for ArgError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ArgError::Unknown => f.write_str("unknown argument"),
            ArgError::MissingValue => f.write_str("needs a value"),
            ArgError::Malformed(wants) => write!(f, "malformed: expected {wants}"),
        }
    }
}

/// Parses an unsigned number written in decimal or, with `0x`, in hexadecimal.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn arguments_split_on_white_space_and_the_first_equals_sign() {
        let args: Vec<_> = parse("  arm64.nolse id_aa64isar0.atomic=0\tx=a=b  empty= ").collect();
        assert_eq!(
            args,
            [
                BootArg { key: "arm64.nolse", value: None },
                BootArg { key: "id_aa64isar0.atomic", value: Some("0") },
                BootArg { key: "x", value: Some("a=b") },
                BootArg { key: "empty", value: Some("") },
            ]
        );
    }

    #[test]
    fn an_empty_command_line_has_no_arguments() {
        assert_eq!(parse("").count(), 0);
        assert_eq!(parse(" \t ").count(), 0);
    }

    #[test]
    fn numbers_parse_in_decimal_and_hex_and_reject_junk() {
        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("0x2a"), Some(42));
        assert_eq!(parse_u64("0X2A"), Some(42));
        assert_eq!(parse_u64(""), None);
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("4 2"), None);
        assert_eq!(parse_u64("-1"), None);
    }

    #[test]
    fn an_argument_that_is_not_utf8_is_handed_back_and_the_others_still_parse() {
        let args: Vec<_> = parse_bytes(b"maxcpus=2 bad\xff\xfe arm64.nolse").collect();
        assert_eq!(args.len(), 3);
        assert_eq!(args[0], Ok(BootArg { key: "maxcpus", value: Some("2") }));
        assert_eq!(args[1], Err(&b"bad\xff\xfe"[..]));
        assert_eq!(args[2], Ok(BootArg { key: "arm64.nolse", value: None }));
    }

    #[test]
    fn control_characters_and_invalid_bytes_are_escaped_for_the_console() {
        assert_eq!(std::format!("{}", Escaped(b"a\x1b[2Jb\n\xffc")), "a\\x1b[2Jb\\x0a\\xffc");
        let arg = parse("x=\u{7}").next().unwrap();
        assert_eq!(std::format!("{arg}"), "x=\\x07");
        assert_eq!(std::format!("{}", Escaped("naïve".as_bytes())), "naïve");
    }

    #[test]
    fn an_argument_displays_as_it_was_written() {
        let arg = parse("a=b").next().unwrap();
        assert_eq!(std::format!("{arg}"), "a=b");
    }
}
