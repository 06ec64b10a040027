//! Portable segment names.

use crate::{Error, Result};

/// The longest portable name: macOS allows 31 bytes including the leading `/`.
///
/// # Example
/// ```
/// use shmkit::{Error, Segment, MAX_NAME_LEN};
/// # let pid = std::process::id();
/// let longest = format!("{:x<1$}", format!("doc-{pid}-"), MAX_NAME_LEN);
/// assert_eq!(longest.len(), 30);
/// let seg = Segment::create(&longest, 64)?;
/// assert_eq!(seg.name(), longest);
///
/// let too_long = format!("{longest}x");
/// let err = Segment::create(&too_long, 64).unwrap_err();
/// assert!(matches!(err, Error::InvalidName { .. }));
/// assert!(err.to_string().contains("longer than 30"), "{err}");
/// # Ok::<(), shmkit::Error>(())
/// ```
pub const MAX_NAME_LEN: usize = 30;

/// A segment name that passed the portable naming rule.
///
/// The rule: 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9._-]`, not starting
/// with `.`. The same name then works on Linux, macOS and Windows, and never
/// contains a path separator, a NUL, or `.`/`..`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Name(String);

impl Name {
    /// Checks `name` against the rule, before any system call is made.
    pub(crate) fn new(name: &str) -> Result<Name> {
        let invalid = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("it is longer than 30 characters"));
        }
        if name.starts_with('.') {
            return Err(invalid("it starts with '.'"));
        }
        if name.starts_with('/') {
            return Err(invalid("it starts with '/'"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(invalid("it contains a character outside A-Z a-z 0-9 . _ -"));
        }
        Ok(Name(name.to_owned()))
    }

    /// The name as the user gave it.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_portable_names() {
        for ok in ["a", "MyShare", "psm_1a2b3c4d", "a.b-c_d", &"x".repeat(30)] {
            assert_eq!(Name::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else_with_the_reason() {
        let cases = [
            ("", "empty"),
            (&*"x".repeat(31), "longer than 30"),
            (".hidden", "starts with '.'"),
            ("/slash", "starts with '/'"),
            ("a/b", "outside"),
            ("..", "starts with '.'"),
            ("nul\0", "outside"),
            ("space here", "outside"),
            ("caf\u{e9}", "outside"),
            ("esc\x1b[2J", "outside"),
        ];
        for (bad, why) in cases {
            let err = Name::new(bad).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}");
            assert!(msg.contains(why), "{bad:?}: {msg}");
            assert!(msg.contains("1 to 30 characters"), "{msg}");
        }
    }
}
