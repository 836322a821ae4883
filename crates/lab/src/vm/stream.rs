//! Forwarding of one guest output stream with end-of-command detection.
//!
//! When the command exits, the guest's init writes `<nonce><status>;` to the stream. The nonce is
//! random per run, so it cannot appear in the command's output by chance. Everything before it is
//! forwarded as it arrives; bytes that might be the start of the nonce are held back until the
//! next read decides. Bytes after the trailer (late writes by the command's background processes)
//! are forwarded too.

use std::io::{self, Write};

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Looking for the nonce; `held` holds a possible prefix of it.
    Scanning,
    /// Nonce seen, collecting the status digits up to `;`.
    Status(Vec<u8>),
    /// Trailer complete.
    Done(u8),
}

pub struct Scanner {
    nonce: Vec<u8>,
    held: Vec<u8>,
    state: State,
}

impl Scanner {
    pub fn new(nonce: &str) -> Self {
        Scanner { nonce: nonce.as_bytes().to_vec(), held: Vec::new(), state: State::Scanning }
    }

    /// The status from the trailer, once it has been seen completely.
    pub fn status(&self) -> Option<u8> {
        match self.state {
            State::Done(status) => Some(status),
            _ => None,
        }
    }

    /// Processes bytes read from the guest, writing the command's output to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut dyn Write) -> io::Result<()> {
        while !data.is_empty() {
            match &mut self.state {
                State::Done(_) => {
                    out.write_all(data)?;
                    data = &[];
                }
                State::Status(digits) => match data.iter().position(|&b| b == b';') {
                    Some(end) => {
                        digits.extend_from_slice(&data[..end]);
                        let status = std::str::from_utf8(digits).ok().and_then(|s| s.parse::<i64>().ok());
                        // A shell status is 0..=255; anything else would be a broken trailer.
                        self.state = State::Done(status.and_then(|s| u8::try_from(s).ok()).unwrap_or(255));
                        data = &data[end + 1..];
                    }
                    None => {
                        digits.extend_from_slice(data);
                        data = &[];
                    }
                },
                State::Scanning => {
                    self.held.extend_from_slice(data);
                    data = &[];
                    let buf = std::mem::take(&mut self.held);
                    if let Some(at) = find(&buf, &self.nonce) {
                        out.write_all(&buf[..at])?;
                        self.state = State::Status(Vec::new());
                        // Continue with what follows the nonce in the same buffer.
                        let rest = buf[at + self.nonce.len()..].to_vec();
                        return self.push(&rest, out);
                    }
                    let keep = partial_suffix(&buf, &self.nonce);
                    out.write_all(&buf[..buf.len() - keep])?;
                    self.held = buf[buf.len() - keep..].to_vec();
                }
            }
        }
        out.flush()
    }

    /// At end of stream: forwards whatever was held back.
    pub fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.state == State::Scanning {
            out.write_all(&self.held)?;
            self.held.clear();
        }
        out.flush()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Length of the longest suffix of `buf` that is a proper prefix of `nonce`.
fn partial_suffix(buf: &[u8], nonce: &[u8]) -> usize {
    let max = nonce.len().saturating_sub(1).min(buf.len());
    (1..=max).rev().find(|&k| buf.ends_with(&nonce[..k])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "@@N0NCE@@";

    fn feed(chunks: &[&[u8]]) -> (Vec<u8>, Option<u8>) {
        let mut scanner = Scanner::new(NONCE);
        let mut out = Vec::new();
        for chunk in chunks {
            scanner.push(chunk, &mut out).unwrap();
        }
        scanner.finish(&mut out).unwrap();
        (out, scanner.status())
    }

    #[test]
    fn trailer_in_one_chunk() {
        assert_eq!(feed(&[b"hello\n@@N0NCE@@3;"]), (b"hello\n".to_vec(), Some(3)));
        assert_eq!(feed(&[b"@@N0NCE@@0;"]), (Vec::new(), Some(0)));
    }

    #[test]
    fn trailer_split_anywhere() {
        let whole = b"out@@put without newline@@N0NCE@@255;late";
        for split in 0..whole.len() {
            for split2 in split..whole.len() {
                let (out, status) = feed(&[&whole[..split], &whole[split..split2], &whole[split2..]]);
                assert_eq!(out, b"out@@put without newlinelate", "split at {split}/{split2}");
                assert_eq!(status, Some(255));
            }
        }
    }

    #[test]
    fn no_trailer_forwards_everything() {
        assert_eq!(feed(&[b"abc@@N0N", b"CE"]), (b"abc@@N0NCE".to_vec(), None));
        assert_eq!(feed(&[b"abc@@N0"]), (b"abc@@N0".to_vec(), None));
    }

    #[test]
    fn prefix_is_held_only_while_it_may_be_the_nonce() {
        let mut scanner = Scanner::new(NONCE);
        let mut out = Vec::new();
        scanner.push(b"x@@N0", &mut out).unwrap();
        assert_eq!(out, b"x");
        scanner.push(b"pe", &mut out).unwrap();
        assert_eq!(out, b"x@@N0pe");
    }
}
