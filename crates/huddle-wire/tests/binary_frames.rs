//! Binary serde formats: `notice_frame` writes element data as bytes. A
//! minimal recording serializer (`is_human_readable() == false`) checks
//! what a binary format is handed for every notice.

mod common;

use common::*;
use huddle_core::*;
use huddle_wire::*;

/// What a non-human-readable serializer is handed, as a flat token list.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Struct,
    Field(&'static str),
    Skip(&'static str),
    End,
    Seq,
    Map,
    Str(String),
    Bytes(Vec<u8>),
    U64(u64),
    F64(f64),
    Other(String),
}

/// A minimal binary-style serializer (`is_human_readable() == false`)
/// that records the calls it gets.
struct Recorder<'a>(&'a mut Vec<Tok>);

#[derive(Debug)]
struct RecErr(String);

impl std::fmt::Display for RecErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecErr {}

impl serde::ser::Error for RecErr {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        RecErr(msg.to_string())
    }
}

fn record<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<Tok>, RecErr> {
    let mut toks = Vec::new();
    value.serialize(Recorder(&mut toks))?;
    Ok(toks)
}

macro_rules! other {
    ($($name:ident($ty:ty)),*) => {$(
        fn $name(self, v: $ty) -> Result<(), RecErr> {
            self.0.push(Tok::Other(format!("{v:?}")));
            Ok(())
        }
    )*};
}

impl<'a> serde::Serializer for Recorder<'a> {
    type Ok = ();
    type Error = RecErr;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }
    other!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_f32(f32),
        serialize_char(char)
    );
    fn serialize_u64(self, v: u64) -> Result<(), RecErr> {
        self.0.push(Tok::U64(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), RecErr> {
        self.0.push(Tok::F64(v));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), RecErr> {
        self.0.push(Tok::Str(v.to_owned()));
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), RecErr> {
        self.0.push(Tok::Bytes(v.to_vec()));
        Ok(())
    }
    fn serialize_none(self) -> Result<(), RecErr> {
        self.0.push(Tok::Other("none".into()));
        Ok(())
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, v: &T) -> Result<(), RecErr> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), RecErr> {
        self.0.push(Tok::Other("unit".into()));
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), RecErr> {
        self.0.push(Tok::Other(name.into()));
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<(), RecErr> {
        self.0.push(Tok::Str(v.into()));
        Ok(())
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), RecErr> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), RecErr> {
        self.0.push(Tok::Other(variant.into()));
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, RecErr> {
        self.0.push(Tok::Map);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, RecErr> {
        self.0.push(Tok::Struct);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, RecErr> {
        self.0.push(Tok::Struct);
        Ok(self)
    }
}

impl<'a> Recorder<'a> {
    fn element<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), RecErr> {
        v.serialize(Recorder(&mut *self.0))
    }
    fn end_(self) -> Result<(), RecErr> {
        self.0.push(Tok::End);
        Ok(())
    }
}

macro_rules! compound {
    ($($tr:ident :: $method:ident),*) => {$(
        impl<'a> serde::ser::$tr for Recorder<'a> {
            type Ok = ();
            type Error = RecErr;
            fn $method<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), RecErr> {
                self.element(v)
            }
            fn end(self) -> Result<(), RecErr> {
                self.end_()
            }
        }
    )*};
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<'a> serde::ser::SerializeMap for Recorder<'a> {
    type Ok = ();
    type Error = RecErr;
    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, k: &T) -> Result<(), RecErr> {
        self.element(k)
    }
    fn serialize_value<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), RecErr> {
        self.element(v)
    }
    fn end(self) -> Result<(), RecErr> {
        self.end_()
    }
}

macro_rules! structs {
    ($($tr:ident),*) => {$(
        impl<'a> serde::ser::$tr for Recorder<'a> {
            type Ok = ();
            type Error = RecErr;
            fn serialize_field<T: serde::Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), RecErr> {
                self.0.push(Tok::Field(key));
                self.element(v)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), RecErr> {
                self.0.push(Tok::Skip(key));
                Ok(())
            }
            fn end(self) -> Result<(), RecErr> {
                self.end_()
            }
        }
    )*};
}

structs!(SerializeStruct, SerializeStructVariant);

fn s(text: &str) -> Tok {
    Tok::Str(text.to_owned())
}

#[test]
fn binary_frames_carry_data_as_bytes() {
    use Tok::*;
    let notice = Notice::Events(engine_events().into());
    assert_eq!(
        record(&notice_frame(&notice)).unwrap(),
        [
            Struct,
            Field("type"),
            s("events"),
            Field("events"),
            Seq,
            Struct,
            Field("seq"),
            U64(11),
            Field("user"),
            s("alice"),
            Field("op"),
            s("upsert"),
            Field("page"),
            s("p1"),
            Field("element"),
            s("e1"),
            Field("data"),
            Bytes(DATA.as_bytes().to_vec()),
            End,
            Struct,
            Field("seq"),
            U64(12),
            Field("user"),
            s("bob"),
            Field("op"),
            s("delete"),
            Field("page"),
            s("p1"),
            Field("element"),
            s("e0"),
            Skip("data"),
            End,
            End,
            End,
        ]
    );
    // The owned message serializes to the same tokens.
    assert_eq!(
        record(&ServerMessage::from_notice(&notice)).unwrap(),
        record(&notice_frame(&notice)).unwrap()
    );
}

#[test]
fn binary_frames_accept_data_that_is_not_json() {
    use Tok::*;
    // Bytes that no JSON frame can hold are fine in a binary one.
    let raw = vec![0xff, 0x00, 0xfe];
    for notice in notices_with_data(Payload::from(raw.clone())) {
        assert!(encode_notice(&notice).is_err());
        let toks = record(&notice_frame(&notice)).unwrap();
        assert!(toks.contains(&Bytes(raw.clone())), "{toks:?}");
        assert_eq!(toks, record(&ServerMessage::from_notice(&notice)).unwrap());
    }
    let toks = record(&ClientMessage::Mutate {
        batch: "b".into(),
        mutations: vec![Mutation::Upsert {
            page: "p".into(),
            element: "e".into(),
            data: Payload::from(raw.clone()),
        }],
    })
    .unwrap();
    assert!(toks.contains(&Bytes(raw)), "{toks:?}");
}

#[test]
fn binary_frames_of_every_notice_match_the_owned_message() {
    for (notice, _) in notices_and_frames() {
        let toks = record(&notice_frame(&notice)).unwrap();
        let kind = ServerMessage::from_notice(&notice).kind();
        assert_eq!(toks[..3], [Tok::Struct, Tok::Field("type"), s(kind)]);
        assert_eq!(toks, record(&ServerMessage::from_notice(&notice)).unwrap());
        // Full-sync pages: element data as bytes too.
        if let Notice::Joined(j) = &notice {
            if let JoinSync::Full { pages, .. } = &j.sync {
                for (_, elements) in pages.iter() {
                    for data in elements.values() {
                        assert!(toks.contains(&Tok::Bytes(data.as_bytes().to_vec())));
                    }
                }
            }
        }
    }
}
