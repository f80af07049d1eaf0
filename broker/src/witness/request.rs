//! The body of a C2SP `tlog-witness` `add-checkpoint` request:
//!
//! ```text
//! old <size>\n
//! <base64 hash>\n          (0 to 63 consistency proof lines)
//! \n
//! <the checkpoint: a signed note>
//! ```
//!
//! Parsing is strict — a decimal without leading zeroes, standard base64 of exactly 32 bytes,
//! at most [`MAX_PROOF_LINES`] — so that a witness never cosigns on a reading another witness
//! would not share.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::transparency::{HASH_LEN, Hash};

/// Most consistency proof lines a request may carry (the specification's bound: a proof in a
/// tree of 2^64 leaves has at most 63 hashes).
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note, as sent.
    pub note: String,
}

/// Parses a request body; the error says what is wrong (a 400).
pub fn parse(body: &[u8]) -> Result<AddCheckpoint, String> {
    let body = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let (old_line, rest) = body
        .split_once('\n')
        .ok_or("the body must start with an old size line")?;
    let old = old_line
        .strip_prefix("old ")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .filter(|d| *d == "0" || !d.starts_with('0'))
        .and_then(|d| d.parse::<u64>().ok())
        .ok_or("the first line must be \"old\" and a decimal size without leading zeroes")?;
    let (proof_block, note) = if let Some(note) = rest.strip_prefix('\n') {
        ("", note)
    } else {
        let end = rest
            .find("\n\n")
            .ok_or("the proof lines must be followed by an empty line")?;
        (&rest[..=end], &rest[end + 2..])
    };
    let mut proof = Vec::new();
    for line in proof_block.lines() {
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            ));
        }
        let hash: Hash = B64
            .decode(line)
            .ok()
            .and_then(|h| <[u8; HASH_LEN]>::try_from(h).ok())
            .ok_or_else(|| {
                format!(
                    "consistency proof line {}: not the base64 of a 32-byte hash",
                    proof.len() + 1
                )
            })?;
        proof.push(hash);
    }
    if note.is_empty() {
        return Err("no checkpoint after the empty line".into());
    }
    Ok(AddCheckpoint {
        old,
        proof,
        note: note.to_string(),
    })
}

/// The request body for `old`, `proof` and the checkpoint `note` (what the broker sends).
pub fn encode(old: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(&B64.encode(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's example request body.
    const SPEC: &str = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn the_specification_example_parses_and_re_encodes() {
        let r = parse(SPEC.as_bytes()).unwrap();
        assert_eq!(r.old, 20852014);
        assert_eq!(r.proof.len(), 4);
        assert!(
            r.note
                .starts_with("example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(encode(r.old, &r.proof, &r.note), SPEC);
        let none = parse(b"old 0\n\no\n1\nx\n\n\xe2\x80\x94 o AAAA\n").unwrap();
        assert_eq!((none.old, none.proof.len()), (0, 0));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let h = B64.encode([0u8; 32]);
        let many = format!("old 1\n{}\nnote\n", format!("{h}\n").repeat(64));
        for bad in [
            "".to_string(),
            "old 01\n\nnote\n".into(),
            "old -1\n\nnote\n".into(),
            "old\n\nnote\n".into(),
            "new 1\n\nnote\n".into(),
            "old 1\nAAAA\n\nnote\n".into(),
            format!("old 1\n{h}\nnote\n"),
            "old 1\n\n".into(),
            many,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
