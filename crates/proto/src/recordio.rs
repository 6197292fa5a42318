//! RecordIO framing of Mesos event streams: each record is its decimal byte
//! length, `\n`, then exactly that many bytes, with nothing after it.
//!
//! HTTP chunk boundaries have no relation to record boundaries, so the
//! [`Decoder`] buffers across arbitrary splits.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest record the decoder accepts unless told otherwise. Larger lengths
/// are far more likely to be a corrupt stream than a real event, and
/// trusting them would let one bad header reserve gigabytes.
pub const DEFAULT_MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

// u64::MAX has 20 digits; a longer header cannot be a valid length and would
// otherwise be buffered without bound (e.g. endless leading zeros).
const MAX_LENGTH_DIGITS: usize = 20;

/// Why a stream could not be decoded. After any error the stream cannot be
/// resynchronised and the decoder refuses further input.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid byte 0x{byte:02x} in a record length (expected ASCII digits then '\\n')")]
    InvalidLengthByte { byte: u8 },
    #[error("record length is 0; RecordIO records are never empty")]
    ZeroLength,
    #[error("record length {length} exceeds the maximum of {max} bytes")]
    TooLong { length: u64, max: usize },
    #[error("record length has more than {MAX_LENGTH_DIGITS} digits")]
    LengthTooManyDigits,
    #[error("the stream already failed to decode; it cannot be resumed")]
    Failed,
    #[error("record is not valid JSON for the expected type: {0}")]
    Json(#[from] serde_json::Error),
}

/// Frames one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 12);
    encode_into(&mut out, record);
    out
}

/// Appends one framed record to `out`.
pub fn encode_into(out: &mut Vec<u8>, record: &[u8]) {
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
}

/// Serialises `value` as JSON and frames it.
///
/// # Panics
///
/// If `value`'s `Serialize` impl fails. The types of this crate never do:
/// their maps have string keys and non-finite doubles are written as strings.
pub fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("cairn-proto types always serialise to JSON");
    encode(&json)
}

/// Parses one record as JSON.
pub fn decode_json<T: DeserializeOwned>(record: &[u8]) -> Result<T, DecodeError> {
    Ok(serde_json::from_slice(record)?)
}

/// Incremental RecordIO decoder.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    /// Length of the record whose header has been read, if any.
    pending: Option<usize>,
    max_record_len: usize,
    failed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::with_max_record_len(DEFAULT_MAX_RECORD_LEN)
    }

    pub fn with_max_record_len(max_record_len: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            pending: None,
            max_record_len,
            failed: false,
        }
    }

    /// Whether no partial record (or partial length) is buffered: a stream
    /// that ends now ended cleanly.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none() && self.pos == self.buf.len()
    }

    /// Adds `chunk` and returns every record it completed, in order.
    ///
    /// On error, records completed earlier in the same chunk are dropped
    /// with the rest: the stream is corrupt from that point on.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
        if self.failed {
            return Err(DecodeError::Failed);
        }
        self.buf.extend_from_slice(chunk);
        let result = self.drain_records();
        // Compact once per feed rather than once per record.
        self.buf.drain(..self.pos);
        self.pos = 0;
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
            self.pending = None;
        }
        result
    }

    /// Like [`Decoder::feed`], parsing each record as JSON.
    pub fn feed_json<T: DeserializeOwned>(&mut self, chunk: &[u8]) -> Result<Vec<T>, DecodeError> {
        self.feed(chunk)?
            .iter()
            .map(|record| decode_json(record))
            .collect()
    }

    fn drain_records(&mut self) -> Result<Vec<Vec<u8>>, DecodeError> {
        let mut records = Vec::new();
        loop {
            match self.pending {
                None => match self.read_length()? {
                    Some(len) => self.pending = Some(len),
                    None => return Ok(records),
                },
                Some(len) => {
                    if self.buf.len() - self.pos < len {
                        return Ok(records);
                    }
                    records.push(self.buf[self.pos..self.pos + len].to_vec());
                    self.pos += len;
                    self.pending = None;
                }
            }
        }
    }

    /// Reads a length header if a complete one is buffered. Bytes are
    /// checked as they arrive, so garbage fails fast instead of waiting for
    /// a newline that may never come.
    fn read_length(&mut self) -> Result<Option<usize>, DecodeError> {
        // The Mesos docs' reader skips blank lines before a length; so do we.
        while self.pos < self.buf.len() && matches!(self.buf[self.pos], b'\n' | b'\r') {
            self.pos += 1;
        }
        let mut length: u64 = 0;
        for (i, &byte) in self.buf[self.pos..].iter().enumerate() {
            if byte == b'\n' {
                if length == 0 {
                    return Err(DecodeError::ZeroLength);
                }
                self.pos += i + 1;
                // `length <= max_record_len`, which is a usize.
                return Ok(Some(length as usize));
            }
            if !byte.is_ascii_digit() {
                return Err(DecodeError::InvalidLengthByte { byte });
            }
            if i >= MAX_LENGTH_DIGITS {
                return Err(DecodeError::LengthTooManyDigits);
            }
            length = length
                .checked_mul(10)
                .and_then(|l| l.checked_add(u64::from(byte - b'0')))
                .ok_or(DecodeError::LengthTooManyDigits)?;
            if length > self.max_record_len as u64 {
                return Err(DecodeError::TooLong {
                    length,
                    max: self.max_record_len,
                });
            }
        }
        Ok(None)
    }
}
