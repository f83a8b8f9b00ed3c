use crate::Sv1Error;

/// Default longest accepted line. Real `mining.notify` lines with a full merkle branch are
/// ~1–2 KiB; 16 KiB leaves room for big coinbases while bounding a hostile peer.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// Sans-IO splitter of a byte stream into Stratum V1 lines.
///
/// Push received bytes with [`LineFramer::push`] (it accepts at most what fits under the limit and
/// says how much it took), then pop lines with [`LineFramer::next_line`] until it returns `None`.
/// Lines end with `\n`; a trailing `\r` is stripped and empty lines are skipped. The buffer never
/// grows past `max_line + 1` bytes, so memory per connection is bounded whatever the peer sends.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Start of the first line not yet returned.
    start: usize,
    /// Bytes before this offset (from `start`) are known to contain no `\n`.
    scanned: usize,
    max_line: usize,
    failed: bool,
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl LineFramer {
    /// A framer rejecting lines longer than `max_line` bytes (terminator excluded, `\r` included).
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line: max_line.max(1),
            failed: false,
        }
    }

    /// The configured line limit.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes received but not yet returned as lines.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken. Pop lines and push
    /// the rest again; when nothing fits, `next_line` reports [`Sv1Error::LineTooLong`].
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.start > 0 {
            // Returned lines are dead; reclaim their room before growing.
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        let room = (self.max_line + 1).saturating_sub(self.buf.len());
        let take = room.min(data.len());
        self.buf
            .extend_from_slice(data.get(..take).unwrap_or_default());
        take
    }

    /// The next complete non-empty line, `None` when more bytes are needed, or an error once the
    /// pending line exceeds the limit (the framer stays failed: drop the connection).
    pub fn next_line(&mut self) -> Option<Result<&[u8], Sv1Error>> {
        if self.failed {
            return Some(Err(self.too_long()));
        }
        loop {
            let tail = self.buf.get(self.scanned..).unwrap_or_default();
            match tail.iter().position(|&b| b == b'\n') {
                Some(offset) => {
                    let newline = self.scanned + offset;
                    let line_start = self.start;
                    let mut line_end = newline;
                    self.start = newline + 1;
                    self.scanned = self.start;
                    if line_end - line_start > self.max_line {
                        self.failed = true;
                        return Some(Err(self.too_long()));
                    }
                    if line_end > line_start && self.buf.get(line_end - 1) == Some(&b'\r') {
                        line_end -= 1;
                    }
                    if line_end == line_start {
                        continue;
                    }
                    return self.buf.get(line_start..line_end).map(Ok);
                }
                None => {
                    self.scanned = self.buf.len();
                    if self.pending() > self.max_line {
                        self.failed = true;
                        return Some(Err(self.too_long()));
                    }
                    return None;
                }
            }
        }
    }

    fn too_long(&self) -> Sv1Error {
        Sv1Error::LineTooLong {
            limit: self.max_line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(line) = framer.next_line() {
            out.push(
                line.map(<[u8]>::to_vec)
                    .map_err(|e| e.to_string())
                    .unwrap_or_default(),
            );
        }
        out
    }

    #[test]
    fn splits_strips_cr_and_skips_empty_lines() {
        let mut f = LineFramer::default();
        assert_eq!(f.push(b"{\"a\":1}\r\n\n\r\n{\"b\""), 16);
        assert_eq!(lines(&mut f), vec![b"{\"a\":1}".to_vec()]);
        assert_eq!(f.pending(), 4);
        f.push(b":2}\n");
        assert_eq!(lines(&mut f), vec![b"{\"b\":2}".to_vec()]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn byte_by_byte_delivery() {
        let mut f = LineFramer::new(64);
        let mut got = Vec::new();
        for b in b"one\ntwo\r\nthree\n" {
            assert_eq!(f.push(std::slice::from_ref(b)), 1);
            got.extend(lines(&mut f));
        }
        assert_eq!(
            got,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn line_at_limit_is_accepted() {
        let mut f = LineFramer::new(8);
        assert_eq!(f.push(b"12345678\n"), 9);
        assert_eq!(lines(&mut f), vec![b"12345678".to_vec()]);
    }

    #[test]
    fn unterminated_line_over_limit_fails_and_stays_failed() {
        let mut f = LineFramer::new(8);
        // Only limit + 1 bytes fit: memory stays bounded even if the peer keeps sending.
        assert_eq!(f.push(b"123456789012345"), 9);
        assert!(matches!(
            f.next_line(),
            Some(Err(Sv1Error::LineTooLong { limit: 8 }))
        ));
        assert!(matches!(f.next_line(), Some(Err(_))));
        assert_eq!(f.push(b"\n"), 0);
    }

    #[test]
    fn terminated_line_over_limit_fails() {
        let mut f = LineFramer::new(4);
        let mut rest: &[u8] = b"ok\n12345\nnever\n";
        let taken = f.push(rest);
        rest = rest.get(taken..).unwrap_or_default();
        assert!(matches!(f.next_line(), Some(Ok(b"ok"))));
        assert!(f.next_line().is_none());
        let taken = f.push(rest);
        assert_eq!(taken, 3);
        assert!(matches!(
            f.next_line(),
            Some(Err(Sv1Error::LineTooLong { .. }))
        ));
    }

    #[test]
    fn room_is_reclaimed_after_lines_are_popped() {
        let mut f = LineFramer::new(8);
        for _ in 0..100 {
            assert_eq!(f.push(b"abcdef\n"), 7);
            assert!(matches!(f.next_line(), Some(Ok(b"abcdef"))));
        }
        assert!(f.buf.capacity() <= 64);
    }
}
