//! The end line of a rendered stream, so a stream cut short is refused.
//!
//! `kubectl pack-render` writes its stream after the render has finished,
//! opening with the pack header (see [`crate::release::PACK_HEADER`]) and closing
//! with
//! `# kubectl-pack.io/end: {"documents":N,"sha256":"…"}`: the number of
//! documents and the SHA-256 of every byte between the header line and this
//! line. A stream that opens with the header must close with a matching end
//! line, or the plugins downstream refuse it before they change anything:
//! a render that died half-way or a pipe that broke would otherwise deploy
//! (and prune against) part of a release. `kubectl pack-crd apply`, which
//! takes CRDs out of the stream, checks the line it gets and writes a new
//! one for what it passes on. A stream without the header (plain YAML,
//! `helm template`) is not checked.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::release::PACK_HEADER;

/// The start of the end line.
pub const END: &str = "# kubectl-pack.io/end: ";

/// What the end line records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// Documents between the header and the end line.
    pub documents: usize,
    /// SHA-256 (hex) of the bytes between the header line and the end line.
    pub sha256: String,
}

impl Seal {
    /// The seal of a stream body.
    pub fn of(body: &str) -> Seal {
        Seal {
            documents: crate::yaml::split_documents(body)
                .iter()
                .filter(|d| !d.is_empty())
                .count(),
            sha256: hex(&Sha256::digest(body.as_bytes())),
        }
    }

    /// The end line (with its newline).
    pub fn line(&self) -> String {
        format!("{END}{}\n", serde_json::to_string(self).unwrap_or_default())
    }
}

/// Writes a stream body through to `out` while hashing it, then the end
/// line ([`Sealer::finish`]): [`seal`] without holding the stream in memory.
pub struct Sealer<W: std::io::Write> {
    out: W,
    hasher: Sha256,
}

impl<W: std::io::Write> Sealer<W> {
    /// Writes the pack header line (`header` without its newline); what
    /// is written next is the sealed body.
    pub fn new(mut out: W, header: &str) -> std::io::Result<Self> {
        out.write_all(header.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(Sealer {
            out,
            hasher: Sha256::new(),
        })
    }

    /// Writes the end line for a body of `documents` non-empty documents
    /// (the caller counts what it wrote; [`verify`] counts again).
    pub fn finish(mut self, documents: usize) -> std::io::Result<W> {
        let seal = Seal {
            documents,
            sha256: hex(&self.hasher.finalize()),
        };
        self.out.write_all(seal.line().as_bytes())?;
        Ok(self.out)
    }
}

impl<W: std::io::Write> std::io::Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Appends the end line to a stream that opens with the pack header.
pub fn seal(mut stream: String) -> String {
    if let Some((start, _)) = header_end(&stream) {
        if !stream.ends_with('\n') {
            stream.push('\n');
        }
        let line = Seal::of(&stream[start..]).line();
        stream.push_str(&line);
    }
    stream
}

/// Where the body starts (after the header line) and the header's offset,
/// when the leading comments hold the pack header.
fn header_end(text: &str) -> Option<(usize, usize)> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with(PACK_HEADER.trim_end()) {
            return Some((at + line.len(), at));
        }
        if !(t.is_empty() || t == "---" || t.starts_with('#')) {
            return None;
        }
        at += line.len();
    }
    None
}

/// Checks a stream: `Ok(None)` without the pack header; `Ok(Some(len))`,
/// the length of the stream without its end line, when it is whole; `Err`
/// naming what is wrong when it was cut short or changed.
pub fn verify(text: &str) -> Result<Option<usize>, String> {
    let Some((start, _)) = header_end(text) else {
        return Ok(None);
    };
    let trimmed = text.trim_end();
    let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
    let last = &trimmed[line_start..];
    let Some(json) = last.strip_prefix(END.trim_end()) else {
        return Err("it ends without kubectl pack-render's end line, so it was cut short (did the render fail, or the pipe break?)".into());
    };
    let want: Seal = serde_json::from_str(json.trim())
        .map_err(|e| format!("its end line is not valid ({e})"))?;
    if line_start < start {
        return Err("its end line comes before its documents".into());
    }
    let got = Seal::of(&text[start..line_start]);
    if got.documents != want.documents {
        return Err(format!(
            "it holds {} document(s) where kubectl pack-render wrote {}",
            got.documents, want.documents
        ));
    }
    if got.sha256 != want.sha256 {
        return Err("its documents differ from what kubectl pack-render wrote".into());
    }
    Ok(Some(line_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# kubectl-pack.io/pack: {\"name\":\"app\",\"version\":\"1.0.0\"}\n";

    #[test]
    fn the_streaming_sealer_writes_what_seal_writes() {
        let body = "---\n# Source: app/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n# NOTES:\n# hi\n";
        let mut sealer = Sealer::new(Vec::new(), HEADER.trim_end()).unwrap();
        std::io::Write::write_all(&mut sealer, body.as_bytes()).unwrap();
        let streamed = String::from_utf8(sealer.finish(2).unwrap()).unwrap();
        assert_eq!(streamed, seal(format!("{HEADER}{body}")));
        assert!(verify(&streamed).unwrap().is_some());
    }

    fn stream() -> String {
        seal(format!(
            "{HEADER}---\n# Source: app/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b}}\n"
        ))
    }

    #[test]
    fn a_whole_stream_verifies_and_a_cut_or_changed_one_does_not() {
        let s = stream();
        assert!(s.lines().last().unwrap().starts_with(END.trim_end()));
        let len = verify(&s).unwrap().unwrap();
        assert!(s[..len].ends_with("name: b}\n"));
        // Cut after the first document (a render that died, a broken pipe).
        let cut = &s[..s
            .find("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}")
            .unwrap()];
        assert!(verify(cut).unwrap_err().contains("cut short"));
        // A document dropped, the end line kept.
        let dropped = s.replace(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            "",
        );
        assert!(
            verify(&dropped)
                .unwrap_err()
                .contains("1 document(s) where kubectl pack-render wrote 2")
        );
        let edited = s.replace("name: b", "name: c");
        assert!(verify(&edited).unwrap_err().contains("differ"));
        // Plain YAML is not checked.
        assert_eq!(verify("apiVersion: v1\nkind: ConfigMap\n"), Ok(None));
    }
}
