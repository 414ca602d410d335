//! The byte sizes of the size flags (`--max-board-bytes 256MiB`): a whole
//! number of bytes, optionally followed by a binary unit (`B`, `KiB`,
//! `MiB`, `GiB`, `TiB`; case-insensitive, a space allowed before it).
//! Decimal units (`MB`) are refused rather than guessed.

/// Parses a byte size, e.g. `65536`, `64KiB`, `256 MiB`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number of bytes, e.g. 65536 or 64MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "kib" => 10,
        "mib" => 20,
        "gib" => 30,
        "tib" => 40,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    number
        .checked_mul(1u64 << shift)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn numbers_and_binary_units() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("65536"), Ok(65_536));
        assert_eq!(parse_bytes("10B"), Ok(10));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("256 mib"), Ok(256 << 20));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "64MB",
            "64 k",
            "1e6",
            "99999999999TiB",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
