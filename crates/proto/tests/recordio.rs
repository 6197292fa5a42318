//! RecordIO framing: encoding, tolerant decoding across arbitrary chunk
//! boundaries, and rejection of corrupt streams.

use cairn_proto::recordio::{self, DecodeError, Decoder};
use cairn_proto::scheduler::{Event, EventType};
use cairn_proto::FrameworkId;
use proptest::prelude::*;

/// Splits `bytes` at the given cut points (taken modulo the length).
fn split_at_cuts(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(bytes[start..p].to_vec());
        start = p;
    }
    chunks.push(bytes[start..].to_vec());
    chunks
}

fn decode_chunks(chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(decoder.feed(chunk).expect("valid stream"));
    }
    assert!(decoder.is_empty(), "a whole stream leaves nothing buffered");
    out
}

proptest! {
    #[test]
    fn records_split_at_random_boundaries_decode_to_the_originals(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = records.iter().flat_map(|r| recordio::encode(r)).collect();
        let decoded = decode_chunks(&split_at_cuts(&stream, &cuts));
        prop_assert_eq!(decoded, records);
    }

    #[test]
    fn records_fed_one_byte_at_a_time_decode_to_the_originals(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 0..10),
    ) {
        let stream: Vec<u8> = records.iter().flat_map(|r| recordio::encode(r)).collect();
        let chunks: Vec<Vec<u8>> = stream.iter().map(|b| vec![*b]).collect();
        prop_assert_eq!(decode_chunks(&chunks), records);
    }

    #[test]
    fn stray_newlines_before_lengths_are_skipped(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..8),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let sep: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut stream = Vec::new();
        for r in &records {
            stream.extend_from_slice(sep);
            stream.extend(recordio::encode(r));
        }
        prop_assert_eq!(decode_chunks(&split_at_cuts(&stream, &cuts)), records);
    }
}

#[test]
fn encoding_is_the_decimal_length_a_newline_and_the_bytes_with_nothing_after() {
    assert_eq!(recordio::encode(b"{}"), b"2\n{}".to_vec());
    let event = Event::heartbeat();
    assert_eq!(
        recordio::encode_json(&event),
        b"20\n{\"type\":\"HEARTBEAT\"}".to_vec()
    );
}

#[test]
fn json_records_decode_into_events() {
    let mut stream = recordio::encode_json(&Event::subscribed(FrameworkId::new("f"), 15.0, None));
    stream.extend(recordio::encode_json(&Event::heartbeat()));
    let mut decoder = Decoder::new();
    let (head, tail) = stream.split_at(7);
    assert!(decoder.feed_json::<Event>(head).expect("ok").is_empty());
    assert!(!decoder.is_empty());
    let events: Vec<Event> = decoder.feed_json(tail).expect("ok");
    assert_eq!(
        events.iter().map(|e| e.type_).collect::<Vec<_>>(),
        vec![EventType::Subscribed, EventType::Heartbeat]
    );
    assert!(matches!(
        recordio::decode_json::<Event>(b"{not json"),
        Err(DecodeError::Json(_))
    ));
}

#[test]
fn a_non_digit_in_the_length_is_rejected_at_once() {
    let mut d = Decoder::new();
    assert!(matches!(
        d.feed(b"1a"),
        Err(DecodeError::InvalidLengthByte { byte: b'a' })
    ));
    let mut d = Decoder::new();
    assert!(matches!(
        d.feed(b" 5\nhello"),
        Err(DecodeError::InvalidLengthByte { byte: b' ' })
    ));
    let mut d = Decoder::new();
    assert!(matches!(
        d.feed(b"2\n{}{\"x\":1}"),
        Err(DecodeError::InvalidLengthByte { byte: b'{' })
    ));
}

#[test]
fn a_zero_length_is_rejected() {
    let mut d = Decoder::new();
    assert!(matches!(d.feed(b"0\n"), Err(DecodeError::ZeroLength)));
    let mut d = Decoder::new();
    assert!(matches!(d.feed(b"000\n"), Err(DecodeError::ZeroLength)));
}

#[test]
fn a_length_above_the_maximum_is_rejected_before_its_bytes_arrive() {
    let mut d = Decoder::with_max_record_len(10);
    assert!(d.feed(b"10\n").expect("at the limit").is_empty());
    let mut d = Decoder::with_max_record_len(10);
    assert!(matches!(
        d.feed(b"11"),
        Err(DecodeError::TooLong {
            length: 11,
            max: 10
        })
    ));
    let mut d = Decoder::new();
    assert!(matches!(
        d.feed(b"99999999999"),
        Err(DecodeError::TooLong { .. })
    ));
    let mut d = Decoder::with_max_record_len(usize::MAX);
    assert!(matches!(
        d.feed(&[b'0'; 30]),
        Err(DecodeError::LengthTooManyDigits)
    ));
}

#[test]
fn a_failed_decoder_refuses_further_input() {
    let mut d = Decoder::new();
    assert!(d.feed(b"x").is_err());
    assert!(matches!(d.feed(b"2\n{}"), Err(DecodeError::Failed)));
}

#[test]
fn a_truncated_record_leaves_the_decoder_non_empty() {
    let mut d = Decoder::new();
    assert!(d.feed(b"5\nhel").expect("ok").is_empty());
    assert!(!d.is_empty());
    assert_eq!(d.feed(b"lo").expect("ok"), vec![b"hello".to_vec()]);
    assert!(d.is_empty());
    assert!(d.feed(b"\n").expect("ok").is_empty());
    assert!(d.is_empty(), "a stray newline is not a partial record");
}
