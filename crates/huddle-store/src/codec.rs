//! A compact binary encoding of [`Pages`] for backends that store a whole
//! board in one value (snapshots). Decoding is defensive: any malformed
//! input is an error, never a panic or an allocation the input asks for.
//!
//! Layout (integers little-endian):
//! `"HP" 0x01`, `u32` page count, then per page: `u32` length + UTF-8 page
//! id, `u32` element count, then per element: `u32` length + UTF-8 element
//! id, `u32` length + data bytes.

use huddle_core::{ElementId, Mutation, PageId, Pages, Payload};

const MAGIC: &[u8; 3] = b"HP\x01";

/// Encodes pages. Lengths above `u32::MAX` cannot occur for ids and
/// payloads the engine accepts; they are refused rather than truncated.
pub fn encode_pages(pages: &Pages) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(16 + pages.payload_bytes());
    out.extend_from_slice(MAGIC);
    put_len(&mut out, pages.page_count())?;
    for (page, elements) in pages.iter() {
        put_bytes(&mut out, page.as_str().as_bytes())?;
        put_len(&mut out, elements.len())?;
        for (element, data) in elements {
            put_bytes(&mut out, element.as_str().as_bytes())?;
            put_bytes(&mut out, data.as_bytes())?;
        }
    }
    Ok(out)
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), String> {
    let n = u32::try_from(len).map_err(|_| format!("length {len} does not fit the encoding"))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), String> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// Decodes what [`encode_pages`] wrote.
pub fn decode_pages(bytes: &[u8]) -> Result<Pages, String> {
    let mut r = Reader { rest: bytes };
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not an encoded board (bad magic or version)".into());
    }
    let mut pages = Pages::new();
    let page_count = r.len()?;
    for _ in 0..page_count {
        let page = PageId::from(r.str()?);
        let element_count = r.len()?;
        if element_count == 0 {
            return Err(format!("page {page} has no elements"));
        }
        for _ in 0..element_count {
            let element = ElementId::from(r.str()?);
            let data = Payload::from(r.bytes()?.to_vec());
            pages.apply(&Mutation::Upsert {
                page: page.clone(),
                element,
                data,
            });
        }
    }
    if !r.rest.is_empty() {
        return Err(format!("{} trailing bytes", r.rest.len()));
    }
    Ok(pages)
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err(format!(
                "truncated: {n} bytes wanted, {} left",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn len(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(n).map_err(|_| format!("length {n} too large"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let b = self.bytes()?;
        core::str::from_utf8(b).map_err(|e| format!("an id is not UTF-8: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Pages {
        Pages::from_elements([
            ("p1".into(), "a".into(), Payload::from("{\"x\":1}")),
            ("p1".into(), "b".into(), Payload::from(vec![0u8, 255, 7])),
            ("p2".into(), "c".into(), Payload::from("")),
        ])
    }

    #[test]
    fn round_trips() {
        for pages in [Pages::new(), sample()] {
            let bytes = encode_pages(&pages).unwrap();
            assert_eq!(decode_pages(&bytes).unwrap(), pages);
        }
    }

    #[test]
    fn refuses_truncation_trailing_bytes_and_bad_utf8() {
        let bytes = encode_pages(&sample()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_pages(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_pages(&longer).is_err());
        // The first page id ("p1") starts after magic + count + its length.
        let mut bad = bytes.clone();
        bad[3 + 4 + 4] = 0xFF;
        assert!(decode_pages(&bad).unwrap_err().contains("UTF-8"));
        // A huge declared count must not allocate or loop long.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_pages(&huge).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_pages(&bytes);
            let mut prefixed = MAGIC.to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = decode_pages(&prefixed);
        }
    }
}
