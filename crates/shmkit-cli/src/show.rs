//! Human output: escaped names, sizes, ages, aligned tables.

use std::ffi::OsStr;
use std::time::{Duration, SystemTime};

/// A name from `/dev/shm` (or any untrusted text) made harmless to print:
/// printable ASCII stays, a backslash doubles, everything else (control
/// characters, escape sequences, newlines, non-ASCII bytes) becomes `\xHH`.
pub fn escape(name: &OsStr) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for &b in name.as_encoded_bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// `208 B`, `4.0 KiB`, `1.5 MiB`, `2.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Parses a byte count as every command takes it: `4096`, `0x40`, `4K`,
/// `4KiB`, `1.5M`, `2G` (binary units); zero allowed.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let hint = || {
        format!("`{text}` is not a byte count: give bytes (64 or 0x40), or a number with K, M or G")
    };
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).map_err(|_| hint());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| hint())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}`: use K, M or G")),
    };
    let bytes = num * mult as f64;
    if !(0.0..=u64::MAX as f64).contains(&bytes) || bytes.fract() != 0.0 {
        return Err(format!("`{text}` is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// Parses a size with [`parse_bytes`]' syntax; at least one byte.
pub fn parse_size(text: &str) -> Result<u64, String> {
    match parse_bytes(text)? {
        0 => Err(format!(
            "`{text}` is not a whole number of bytes of at least 1"
        )),
        n => Ok(n),
    }
}

/// `12s`, `5m`, `3h`, `2d`; `?` if unknown.
pub fn age(modified: Option<SystemTime>) -> String {
    let Some(d) = modified.and_then(|m| SystemTime::now().duration_since(m).ok()) else {
        return "?".into();
    };
    short_duration(d)
}

fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Prints rows as columns aligned to their widest cell; the last column is
/// not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        println!("{}", out.trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_terminal_sequences() {
        assert_eq!(escape(OsStr::new("ok-name.1")), "ok-name.1");
        assert_eq!(
            escape(OsStr::new("evil\x1b[2J\nname")),
            "evil\\x1b[2J\\x0aname"
        );
        assert_eq!(escape(OsStr::new("back\\slash")), "back\\\\slash");
        assert_eq!(escape(OsStr::new("caf\u{e9}")), "caf\\xc3\\xa9");
    }

    #[test]
    fn sizes_read_and_print() {
        assert_eq!(size(208), "208 B");
        assert_eq!(size(4096), "4.0 KiB");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_size("208").unwrap(), 208);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("x").is_err());
        assert_eq!(parse_size("0x40").unwrap(), 64);
        assert_eq!(parse_bytes("0").unwrap(), 0);
        assert_eq!(parse_bytes("1K").unwrap(), 1024);
        assert!(parse_bytes("0xzz").is_err());
    }
}
