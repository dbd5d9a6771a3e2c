//! A lossless text view of arbitrary bytes, so the `&str` editors can edit files that are
//! not valid UTF-8 (a Latin-1 comment in `/etc/default/grub`) and give back every byte they
//! do not change exactly as it was.
//!
//! [`decode`] keeps valid UTF-8 as it is and turns each byte of an invalid sequence into one
//! private-use character (U+10FF80..=U+10FFFF for bytes 0x80..=0xFF, the way Python's
//! `surrogateescape` works); a valid character already in that range is escaped byte by
//! byte too, so [`encode`] is its exact inverse. The escape characters are neither
//! whitespace, quotes nor `=`: the editors treat them as ordinary word characters, as they
//! would treat U+FFFD.

/// The escape for byte `b` (0x80..=0xFF) is `ESCAPE_BASE + b`.
const ESCAPE_BASE: u32 = 0x10_FF00;

fn is_escape(c: char) -> bool {
    (ESCAPE_BASE + 0x80..=ESCAPE_BASE + 0xFF).contains(&(c as u32))
}

fn escape(b: u8) -> char {
    // Always Some: 0x10FF80..=0x10FFFF are Unicode scalar values.
    char::from_u32(ESCAPE_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The text view of `bytes`; [`encode`] gives the bytes back exactly.
pub fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0u8; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                out.push(c);
            }
        }
        // Bytes of an invalid sequence are all >= 0x80 (ASCII is always valid).
        out.extend(chunk.invalid().iter().map(|&b| escape(b)));
    }
    out
}

/// The bytes a text view stands for: escapes become their byte, everything else its UTF-8.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if is_escape(c) {
            out.push((c as u32 - ESCAPE_BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// The property a fuzz target checks: any bytes survive the round trip exactly.
pub fn round_trips(bytes: &[u8]) -> bool {
    encode(&decode(bytes)) == bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_string_round_trips() {
        let cases: &[&[u8]] = &[
            b"",
            b"plain ascii\n",
            "é ü — 日本".as_bytes(),
            b"# caf\xe9 Latin-1\n",
            b"\xff\xfe\x80\xc3",
            // A valid character inside the escape range is escaped byte by byte.
            "\u{10FF80}\u{10FFFF}\u{10FF7F}".as_bytes(),
            b"\xf4\x8f\xbe\x80",
            b"\xf4\x8f\xbe",
            b"\xed\xa0\x80 surrogate",
        ];
        for c in cases {
            assert!(round_trips(c), "{c:?}");
        }
        assert_eq!(decode(b"caf\xe9\n").chars().count(), 5);
        assert_eq!(decode("é".as_bytes()), "é", "valid UTF-8 is kept as it is");
        let mut seed: u64 = 0x5eed_b17e;
        for _ in 0..5000 {
            let n = (seed >> 58) as usize;
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    // Bias towards the interesting bytes: high ones and the escape range's.
                    [b'a', b' ', 0x80, 0xbf, 0xc3, 0xe9, 0xf4, 0x8f, 0xbe, 0xff][(seed >> 60) as usize % 10]
                })
                .collect();
            assert!(round_trips(&bytes), "{bytes:?}");
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
    }
}
