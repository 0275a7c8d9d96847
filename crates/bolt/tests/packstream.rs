//! PackStream encoder/decoder: round trips, every size class boundary, and
//! refusal (never a panic, never a large allocation) of malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditgraph_bolt::packstream::{self, MAX_DEPTH};
use auditgraph_bolt::{BoltError, Node, Path, Relationship, Structure, UnboundRelationship, Value};
use proptest::prelude::*;

fn round_trip(v: &Value) -> Vec<u8> {
    let bytes = packstream::encode(v).unwrap();
    let back = packstream::decode(&bytes).unwrap();
    // NaN != NaN: compare floats by bits.
    assert_eq!(format!("{back:?}"), format!("{v:?}"));
    bytes
}

fn protocol_error(bytes: &[u8]) -> String {
    match packstream::decode(bytes) {
        Err(BoltError::Protocol(m)) => m,
        other => panic!("expected a protocol error for {bytes:02X?}, got {other:?}"),
    }
}

#[test]
fn scalars_have_their_markers() {
    assert_eq!(round_trip(&Value::Null), [0xC0]);
    assert_eq!(round_trip(&Value::Bool(false)), [0xC2]);
    assert_eq!(round_trip(&Value::Bool(true)), [0xC3]);
    assert_eq!(
        round_trip(&Value::Float(1.1)),
        [0xC1, 0x3F, 0xF1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A]
    );
    for f in [
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::INFINITY,
        f64::NAN,
    ] {
        let bytes = round_trip(&Value::Float(f));
        assert_eq!(bytes.len(), 9);
        match packstream::decode(&bytes).unwrap() {
            Value::Float(g) => assert_eq!(g.to_bits(), f.to_bits()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn integers_use_the_smallest_size_class_at_every_boundary() {
    let cases: &[(i64, u8, usize)] = &[
        (0, 0x00, 1),
        (127, 0x7F, 1),
        (-1, 0xFF, 1),
        (-16, 0xF0, 1),
        (-17, 0xC8, 2),
        (-128, 0xC8, 2),
        (128, 0xC9, 3),
        (-129, 0xC9, 3),
        (32767, 0xC9, 3),
        (-32768, 0xC9, 3),
        (32768, 0xCA, 5),
        (-32769, 0xCA, 5),
        (i64::from(i32::MAX), 0xCA, 5),
        (i64::from(i32::MIN), 0xCA, 5),
        (i64::from(i32::MAX) + 1, 0xCB, 9),
        (i64::from(i32::MIN) - 1, 0xCB, 9),
        (i64::MAX, 0xCB, 9),
        (i64::MIN, 0xCB, 9),
    ];
    for &(i, marker, len) in cases {
        let bytes = round_trip(&Value::Int(i));
        assert_eq!((bytes[0], bytes.len()), (marker, len), "{i}");
    }
    // Non-minimal encodings from a server are accepted too.
    assert_eq!(packstream::decode(&[0xC8, 0x05]).unwrap(), Value::Int(5));
    assert_eq!(
        packstream::decode(&[0xC9, 0xFF, 0xFF]).unwrap(),
        Value::Int(-1)
    );
    assert_eq!(
        packstream::decode(&[0xCB, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap(),
        Value::Int(1)
    );
}

/// Header bytes of a sized value: (tiny base, 8-bit marker).
fn check_sizes(make: impl Fn(usize) -> Value, tiny: Option<u8>, marker8: u8) {
    let tiny_max = if tiny.is_some() { 15 } else { 0 };
    for (n, marker, header) in [
        (
            0,
            tiny.unwrap_or(marker8),
            if tiny.is_some() { 1 } else { 2 },
        ),
        (
            tiny_max,
            tiny.map_or(marker8, |t| t | 15),
            if tiny.is_some() { 1 } else { 2 },
        ),
        (16, marker8, 2),
        (255, marker8, 2),
        (256, marker8 + 1, 3),
        (65535, marker8 + 1, 3),
        (65536, marker8 + 2, 5),
    ] {
        let v = make(n);
        let bytes = round_trip(&v);
        assert_eq!(bytes[0], marker, "size {n}");
        match header {
            2 => assert_eq!(usize::from(bytes[1]), n),
            3 => assert_eq!(usize::from(u16::from_be_bytes([bytes[1], bytes[2]])), n),
            5 => assert_eq!(
                u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize,
                n
            ),
            _ => {}
        }
    }
}

#[test]
fn strings_at_every_size_boundary() {
    check_sizes(|n| Value::String("x".repeat(n)), Some(0x80), 0xD0);
    // Multi-byte UTF-8: the size is in bytes.
    let bytes = round_trip(&Value::from("é漢🎉"));
    assert_eq!(bytes[0], 0x80 | 9);
}

#[test]
fn bytes_at_every_size_boundary() {
    check_sizes(|n| Value::Bytes(vec![0xAB; n]), None, 0xCC);
}

#[test]
fn lists_at_every_size_boundary() {
    check_sizes(|n| Value::List(vec![Value::Int(1); n]), Some(0x90), 0xD4);
}

#[test]
fn maps_at_every_size_boundary() {
    check_sizes(
        |n| Value::Map((0..n).map(|i| (format!("k{i}"), Value::Int(1))).collect()),
        Some(0xA0),
        0xD8,
    );
}

#[test]
fn map_order_is_kept_and_last_duplicate_wins() {
    let m = Value::map([
        ("scheme", "basic"),
        ("principal", "u"),
        ("credentials", "p"),
    ]);
    let bytes = round_trip(&m);
    let text = String::from_utf8_lossy(&bytes);
    let (a, b, c) = (
        text.find("scheme").unwrap(),
        text.find("principal").unwrap(),
        text.find("credentials").unwrap(),
    );
    assert!(a < b && b < c);
    let dup = packstream::decode(&[0xA2, 0x81, b'k', 0x01, 0x81, b'k', 0x02]).unwrap();
    assert_eq!(dup.get("k"), Some(&Value::Int(2)));
}

#[test]
fn structures_up_to_15_fields() {
    for n in 0..=15 {
        let s = Value::Struct(Box::new(Structure {
            tag: 0x44,
            fields: vec![Value::Int(7); n],
        }));
        let bytes = round_trip(&s);
        assert_eq!(bytes[..2], [0xB0 | n as u8, 0x44]);
    }
    let too_many = Value::Struct(Box::new(Structure {
        tag: 0x44,
        fields: vec![Value::Null; 16],
    }));
    assert!(matches!(
        packstream::encode(&too_many),
        Err(BoltError::Encode(_))
    ));
}

fn node(id: i64) -> Node {
    Node {
        id,
        labels: vec!["Note".into(), "ag:section".into()],
        properties: vec![
            ("name".into(), Value::from("n")),
            ("w".into(), Value::Float(0.5)),
        ],
        element_id: Some(format!("node_{id}")),
    }
}

#[test]
fn graph_structures_decode_into_their_types() {
    let n = Value::Node(Box::new(node(1)));
    assert_eq!(round_trip(&n)[..2], [0xB4, 0x4E]);
    let n3 = Value::Node(Box::new(Node {
        element_id: None,
        ..node(2)
    }));
    assert_eq!(round_trip(&n3)[..2], [0xB3, 0x4E]);
    let r = Value::Relationship(Box::new(Relationship {
        id: 9,
        start_node_id: 1,
        end_node_id: 2,
        rel_type: "LINKS".into(),
        properties: vec![("rule".into(), Value::from("r1"))],
        element_ids: Some(("r9".into(), "n1".into(), "n2".into())),
    }));
    assert_eq!(round_trip(&r)[..2], [0xB8, 0x52]);
    let r5 = Value::Relationship(Box::new(Relationship {
        id: 9,
        start_node_id: 1,
        end_node_id: 2,
        rel_type: "LINKS".into(),
        properties: vec![],
        element_ids: None,
    }));
    assert_eq!(round_trip(&r5)[..2], [0xB5, 0x52]);
    let u = UnboundRelationship {
        id: 9,
        rel_type: "LINKS".into(),
        properties: vec![],
        element_id: Some("r9".into()),
    };
    assert_eq!(
        round_trip(&Value::UnboundRelationship(Box::new(u.clone())))[..2],
        [0xB4, 0x72]
    );
    let p = Value::Path(Box::new(Path {
        nodes: vec![node(1), node(2)],
        relationships: vec![u],
        indices: vec![1, 1],
    }));
    assert_eq!(round_trip(&p)[..2], [0xB3, 0x50]);
}

#[test]
fn odd_graph_structures_stay_generic() {
    // A "node" whose id is a string, and one with too few fields.
    for bytes in [
        &[0xB3, 0x4E, 0x81, b'x', 0x90, 0xA0][..],
        &[0xB2, 0x4E, 0x01, 0x90][..],
        &[0xB3, 0x50, 0x91, 0x01, 0x90, 0x90][..],
        &[0xB1, 0x44, 0x01][..], // a Date
    ] {
        match packstream::decode(bytes).unwrap() {
            Value::Struct(s) => assert_eq!(s.tag, bytes[1]),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let v = Value::map([
        ("s", Value::String("x".repeat(300))),
        ("l", Value::from(vec![1i64, 1000, 100_000, 10_000_000_000])),
        ("f", Value::Float(2.5)),
        ("b", Value::Bytes(vec![1, 2, 3])),
        ("n", Value::Node(Box::new(node(3)))),
    ]);
    let bytes = packstream::encode(&v).unwrap();
    for cut in 0..bytes.len() {
        protocol_error(&bytes[..cut]);
    }
    let mut extra = bytes.clone();
    extra.push(0xC0);
    assert!(protocol_error(&extra).contains("unexpected bytes"));
}

#[test]
fn oversized_lengths_are_refused_without_allocating() {
    // Each claims up to 4 GiB (or 4 G elements) with a few bytes present.
    for bytes in [
        &[0xD2, 0xFF, 0xFF, 0xFF, 0xFF, b'a'][..],
        &[0xCE, 0xFF, 0xFF, 0xFF, 0xFF, 0][..],
        &[0xD6, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0][..],
        &[0xDA, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, b'k', 0xC0][..],
        &[0xD5, 0x00, 0x03, 0x01, 0x02][..],
        &[0xBF, 0x4E, 0x01][..],
    ] {
        protocol_error(bytes);
    }
}

#[test]
fn malformed_values_are_refused() {
    // Invalid UTF-8, non-string key, reserved markers.
    assert!(protocol_error(&[0x82, 0xC3, 0x28]).contains("UTF-8"));
    assert!(protocol_error(&[0xA1, 0x01, 0x01]).contains("key"));
    for marker in [
        0xC4u8, 0xC5, 0xC6, 0xC7, 0xCF, 0xD3, 0xD7, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xEF,
    ] {
        assert!(protocol_error(&[marker]).contains("marker"), "{marker:02X}");
    }
    assert!(protocol_error(&[]).contains("truncated"));
}

#[test]
fn nesting_is_bounded() {
    let mut ok = vec![0x91u8; MAX_DEPTH - 1];
    ok.push(0x90);
    packstream::decode(&ok).unwrap();
    // Far deeper than the limit: an error, not a stack overflow.
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0x90);
    assert!(protocol_error(&deep).contains("nested"));
    let mut deep_maps = Vec::new();
    for _ in 0..10_000 {
        deep_maps.extend_from_slice(&[0xA1, 0x81, b'k']);
    }
    deep_maps.push(0xC0);
    assert!(protocol_error(&deep_maps).contains("nested"));
}

#[test]
fn value_is_small() {
    assert_eq!(std::mem::size_of::<Value>(), 32);
    assert_eq!(packstream::VALUE_COST, 32);
}

#[test]
fn decoded_memory_is_bounded() {
    // 60 000 tiny ints: 60 KB on the wire, ~1.9 MB decoded.
    let mut body = vec![0xB1, 0x71, 0xD5, 0xEA, 0x60];
    body.extend(std::iter::repeat_n(0x01u8, 60_000));
    let (_, fields, used) = packstream::decode_message_limited(&body, 10 << 20).unwrap();
    assert_eq!(fields[0].as_list().map(<[Value]>::len), Some(60_000));
    assert_eq!(used, 60_001 * packstream::VALUE_COST);
    match packstream::decode_message_limited(&body, 1 << 20) {
        Err(BoltError::Protocol(m)) => assert!(m.contains("limit"), "{m}"),
        other => panic!("{other:?}"),
    }
    // String contents count.
    let s = packstream::encode(&Value::String("x".repeat(1000))).unwrap();
    let msg = [&[0xB1, 0x71][..], &s].concat();
    assert!(packstream::decode_message_limited(&msg, 1000).is_err());
    assert!(packstream::decode_message_limited(&msg, 1100).is_ok());
}

#[test]
fn messages_are_structures() {
    let (sig, fields) = packstream::decode_message(&[0xB1, 0x70, 0xA0]).unwrap();
    assert_eq!((sig, fields), (0x70, vec![Value::Map(vec![])]));
    assert!(matches!(
        packstream::decode_message(&[0x70]),
        Err(BoltError::Protocol(_))
    ));
    assert!(matches!(
        packstream::decode_message(&[0xB2, 0x70, 0xA0]),
        Err(BoltError::Protocol(_))
    ));
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![
            -200i64..200,
            -70_000i64..70_000,
            Just(i64::MIN),
            Just(i64::MAX)
        ]
        .prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        ".{0,40}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 64, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::List),
            proptest::collection::vec((".{0,10}", inner.clone()), 0..20).prop_map(Value::Map),
            (0x00u8..0x4D, proptest::collection::vec(inner, 0..15))
                .prop_map(|(tag, fields)| Value::Struct(Box::new(Structure { tag, fields }))),
        ]
    })
}

proptest! {
    #[test]
    fn any_value_round_trips(v in arb_value()) {
        let bytes = packstream::encode(&v).unwrap();
        let back = packstream::decode(&bytes).unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{v:?}"));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = packstream::decode(&bytes);
        let _ = packstream::decode_message(&bytes);
    }

    #[test]
    fn corrupted_encodings_never_panic(v in arb_value(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = packstream::encode(&v).unwrap();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let _ = packstream::decode(&bytes);
    }
}
