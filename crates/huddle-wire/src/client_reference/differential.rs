//! The hand-written reader against the serde reference, on generated
//! frames: well-formed ones of every message (fields in any order,
//! duplicated, null, of the wrong type, unknown, escaped), the same with a
//! byte inserted, removed or replaced or the frame cut short, and raw byte
//! soup.

use proptest::prelude::*;

use super::super::client_reader::read_client;
use super::super::depth::DecodeLimits;
use super::super::DecodeError;
use super::reference_decode;

/// Asserts the reader and the reference agree on `frame`.
fn agree(frame: &[u8], limits: &DecodeLimits) -> Result<(), TestCaseError> {
    let ours = read_client(frame, std::str::from_utf8(frame).ok(), limits);
    let reference = reference_decode(frame, limits);
    let same = match (&ours, &reference) {
        (Err(DecodeError::Json(_)), Err(DecodeError::Json(_))) => true,
        (ours, reference) => ours == reference,
    };
    prop_assert!(
        same,
        "{:?}\nreader:    {ours:?}\nreference: {reference:?}",
        String::from_utf8_lossy(frame)
    );
    Ok(())
}

/// Strings, as JSON text: plain, escaped (names spelled with escapes
/// too), a lone surrogate, a control character, bad escapes, non-UTF-8.
fn string() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#""""#.to_vec()),
        Just(br#""p1""#.to_vec()),
        Just(br#""e-\u00e9""#.to_vec()),
        Just(br#""b\"1\\""#.to_vec()),
        Just(br#""\ud83d\ude00""#.to_vec()),
        Just(br#""\ud800""#.to_vec()),
        Just(br#""\udc00x""#.to_vec()),
        Just(br#""\x""#.to_vec()),
        Just(br#""\u12""#.to_vec()),
        Just(b"\"a\nb\"".to_vec()),
        Just(b"\"\xff\"".to_vec()),
        Just("\"\u{e9}t\u{e9}\"".as_bytes().to_vec()),
        "[a-z]{0,3}".prop_map(|s| format!("\"{s}\"").into_bytes()),
    ]
}

/// Numbers, as JSON text, valid and not.
fn number() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"0".to_vec()),
        Just(b"-0".to_vec()),
        Just(b"7".to_vec()),
        Just(b"-3".to_vec()),
        Just(b"1.5".to_vec()),
        Just(b"2.0".to_vec()),
        Just(b"1e3".to_vec()),
        Just(b"-2.5E-3".to_vec()),
        Just(b"1e400".to_vec()),
        Just(b"0e999999999999".to_vec()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"0.1000000000000000055511151231257827".to_vec()),
        Just(b"01".to_vec()),
        Just(b"1.".to_vec()),
        Just(b"-".to_vec()),
        Just(b"1e".to_vec()),
        any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        any::<f64>().prop_map(|n| format!("{n:e}").into_bytes()),
    ]
}

/// Any JSON value (nested up to a few levels), and some non-values.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(b"null".to_vec()),
        Just(b"true".to_vec()),
        Just(b"false".to_vec()),
        Just(b"nul".to_vec()),
        Just(b"tru".to_vec()),
        string(),
        number(),
    ];
    leaf.prop_recursive(5, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| join(b"[", &items, b"]")),
            prop::collection::vec((key(), inner), 0..4).prop_map(|members| {
                let items: Vec<Vec<u8>> = members
                    .into_iter()
                    .map(|(k, v)| [k, b":".to_vec(), v].concat())
                    .collect();
                join(b"{", &items, b"}")
            }),
        ]
    })
}

/// `open` items separated by commas `close`.
fn join(open: &[u8], items: &[Vec<u8>], close: &[u8]) -> Vec<u8> {
    [open.to_vec(), items.join(&b","[..]), close.to_vec()].concat()
}

/// Keys: every field name of the frame and of a mutation (also escaped),
/// and unknown ones.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "board",
            "last_sequence",
            "batch",
            "mutations",
            "x",
            "y",
            "op",
            "page",
            "element",
            "data",
            "seq",
            "user",
            "extra",
        ])
        .prop_map(|k| format!("\"{k}\"").into_bytes()),
        Just(br#""t\u0079pe""#.to_vec()),
        Just(br#""d\u0061ta""#.to_vec()),
        Just(b"\"\xffx\"".to_vec()),
    ]
}

/// A value for a field: mostly of the field's type.
fn field_value(name: &str) -> BoxedStrategy<Vec<u8>> {
    let quoted = |words: Vec<&'static str>| {
        prop::sample::select(words).prop_map(|w| format!("\"{w}\"").into_bytes())
    };
    let typed = match name {
        "type" => quoted(vec![
            "join", "mutate", "cursor", "snapshot", "leave", "ping", "nope",
        ])
        .boxed(),
        "op" => quoted(vec!["upsert", "delete", "move"]).boxed(),
        "mutations" => prop::collection::vec(mutation(), 0..4)
            .prop_map(|items| join(b"[", &items, b"]"))
            .boxed(),
        "last_sequence" | "x" | "y" | "seq" => number().boxed(),
        "data" => value().boxed(),
        _ => string().boxed(),
    };
    prop_oneof![8 => typed, 1 => Just(b"null".to_vec()), 1 => value()].boxed()
}

/// An object of `names`' fields (some left out, some twice, an unknown
/// one), in any order, with whitespace around some tokens.
fn object(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let members = names
        .iter()
        .map(|&name| {
            (0..10u8, field_value(name)).prop_map(move |(roll, value)| match roll {
                0 => vec![],
                1 => vec![(name, value.clone()), (name, value)],
                _ => vec![(name, value)],
            })
        })
        .collect::<Vec<_>>();
    (members, field_value("extra"), any::<bool>())
        .prop_flat_map(|(members, extra, with_extra)| {
            let mut all: Vec<(&str, Vec<u8>)> = members.into_iter().flatten().collect();
            if with_extra {
                all.push(("extra", extra));
            }
            Just(all).prop_shuffle()
        })
        .prop_flat_map(|members| {
            prop::collection::vec(
                prop::sample::select(vec!["", "", " ", "\n\t"]),
                members.len() + 1,
            )
            .prop_map(move |spaces| {
                let items: Vec<Vec<u8>> = members
                    .iter()
                    .zip(&spaces)
                    .map(|((name, value), space)| {
                        [format!("{space}\"{name}\"{space}:").as_bytes(), value].concat()
                    })
                    .collect();
                [
                    join(b"{", &items, b""),
                    spaces[members.len()].as_bytes().to_vec(),
                    b"}".to_vec(),
                ]
                .concat()
            })
        })
}

fn mutation() -> BoxedStrategy<Vec<u8>> {
    object(&["op", "page", "element", "data", "seq", "user"]).boxed()
}

/// A frame of any message.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => object(&["type", "batch", "mutations"]),
        1 => object(&["type", "board", "last_sequence"]),
        1 => object(&["type", "x", "y"]),
        1 => object(&["type"]),
        1 => object(&["type", "board", "last_sequence", "batch", "mutations", "x", "y"]),
    ]
}

/// A frame with one byte inserted, removed or replaced, or cut short.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop::sample::select(b"{}[],:\"\\ nt0-.e\x00\xff".to_vec());
    (frame(), any::<prop::sample::Index>(), 0..4u8, byte).prop_map(|(mut f, at, how, b)| {
        let i = at.index(f.len() + 1);
        match how {
            0 => f.insert(i, b),
            1 if i < f.len() => {
                f.remove(i);
            }
            2 if i < f.len() => f[i] = b,
            _ => f.truncate(i),
        }
        f
    })
}

fn limits() -> impl Strategy<Value = DecodeLimits> {
    prop_oneof![
        Just(DecodeLimits::default()),
        (0..4usize).prop_map(|max_data_depth| DecodeLimits { max_data_depth })
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn well_formed_frames(frame in frame(), limits in limits()) {
        agree(&frame, &limits)?;
    }

    #[test]
    fn damaged_frames(frame in damaged(), limits in limits()) {
        agree(&frame, &limits)?;
    }

    #[test]
    fn byte_soup(frame in prop::collection::vec(prop::sample::select(b"{}[],:\"\\ nulltrue0-.eE+1xu\xc3\xa9\xff".to_vec()), 0..40)) {
        agree(&frame, &DecodeLimits::default())?;
    }
}

/// Frames whose outcome the generators might reach only rarely.
#[test]
fn edge_cases() {
    let deep = format!(
        r#"{{"type":"mutate","batch":"b","mutations":[{{"op":"upsert","page":"p","element":"e","data":{}1{}}}]}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let cases: &[&[u8]] = &[
        br#"{"type":"ping"}"#,
        br#" {"type" : "ping" } "#,
        br#"{"type":"ping"}x"#,
        br#"{"type":"ping",}"#,
        br#"{"type":"ping","type":"ping"}"#,
        br#"{"type":null,"type":"ping"}"#,
        br#"{"extra":[1,{"a":[]}],"type":"leave"}"#,
        br#"{"extra":[1,],"type":"leave"}"#,
        br#"{"extra":{"a"},"type":"leave"}"#,
        b"{\"extra\":\"\xff\",\"type\":\"leave\"}",
        b"{\"type\":\"join\",\"board\":\"\xff\"}",
        br#"{"type":"join","board":"b","last_sequence":-0}"#,
        br#"{"type":"join","board":"b","last_sequence":5.0}"#,
        br#"{"type":"cursor","x":1e400,"y":0}"#,
        br#"{"type":"cursor","x":-0,"y":1e-400}"#,
        br#"{"type":"mutate","batch":"b","mutations":[]}"#,
        br#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","page":"p","element":"e","data":[[[[]]]]}]}"#,
        br#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":[[]]},{"op":"nope"}]}"#,
        br#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":null,"data":1}]}"#,
        br#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":1,"seq":"x"}]}"#,
        br#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":1,"user":"\ud800"}]}"#,
        deep.as_bytes(),
    ];
    for frame in cases {
        for max_data_depth in [0, 1, 2, 64] {
            agree(frame, &DecodeLimits { max_data_depth }).unwrap();
        }
    }
}
