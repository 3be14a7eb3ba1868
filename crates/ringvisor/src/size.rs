//! Memory sizes as QEMU users write them: `256M`, `1G`, `512` (MiB).

/// Parse a size; a bare number is MiB.
pub fn parse(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'B' => 1,
                _ => return Err(format!("unknown size suffix in '{s}' (use K, M or G)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1 << 20),
    };
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size (examples: 256M, 1G)"))?;
    n.checked_mul(mult).ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes() {
        assert_eq!(parse("256M"), Ok(256 << 20));
        assert_eq!(parse("1g"), Ok(1 << 30));
        assert_eq!(parse("512"), Ok(512 << 20));
        assert_eq!(parse("64K"), Ok(64 << 10));
        assert!(parse("12Q").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("99999999999999999999G").is_err());
    }
}
