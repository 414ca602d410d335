//! `Pages`, the board state shared copy-on-write: a clone or a share is
//! unchanged by later writes to the original (and the other way round),
//! equality ignores
//! order, serde keeps its `{page: {element: data}}` form, and iteration
//! order is exactly that of plain `IndexMap`s (insertion order, a removal
//! moving the last element into the hole) — checked against such a model
//! with random mutations, clones and shares taken along the way.

use huddle_core::{Mutation, Pages, Payload};
use huddle_testkit::{delete, upsert};
use indexmap::IndexMap;
use proptest::prelude::*;

/// The reference: what `Pages` was before it was shared.
type Model = IndexMap<String, IndexMap<String, String>>;

fn model_apply(model: &mut Model, m: &Mutation) {
    match m {
        Mutation::Upsert {
            page,
            element,
            data,
        } => {
            let text = String::from_utf8(data.as_bytes().to_vec()).unwrap();
            model
                .entry(page.as_str().to_owned())
                .or_default()
                .insert(element.as_str().to_owned(), text);
        }
        Mutation::Delete { page, element } => {
            if let Some(elements) = model.get_mut(page.as_str()) {
                elements.swap_remove(element.as_str());
                if elements.is_empty() {
                    model.swap_remove(page.as_str());
                }
            }
        }
    }
}

/// The pages as ordered lists, to compare order and content at once.
fn listed(pages: &Pages) -> Vec<(String, Vec<(String, String)>)> {
    pages
        .iter()
        .map(|(page, elements)| {
            let elements = elements
                .iter()
                .map(|(e, d)| {
                    let text = String::from_utf8(d.as_bytes().to_vec()).unwrap();
                    (e.as_str().to_owned(), text)
                })
                .collect();
            (page.as_str().to_owned(), elements)
        })
        .collect()
}

fn model_listed(model: &Model) -> Vec<(String, Vec<(String, String)>)> {
    model
        .iter()
        .map(|(p, es)| {
            let es = es.iter().map(|(e, d)| (e.clone(), d.clone())).collect();
            (p.clone(), es)
        })
        .collect()
}

fn check_against(pages: &Pages, model: &Model) {
    assert_eq!(listed(pages), model_listed(model));
    let bytes: usize = model
        .values()
        .flat_map(|es| es.values())
        .map(String::len)
        .sum();
    assert_eq!(pages.payload_bytes(), bytes);
    assert_eq!(pages.page_count(), model.len());
    assert_eq!(
        pages.element_count(),
        model.values().map(IndexMap::len).sum::<usize>()
    );
    assert_eq!(pages.is_empty(), model.is_empty());
    for (p, es) in model {
        assert_eq!(pages.page(p).map(|page| page.len()), Some(es.len()));
        for (e, d) in es {
            assert_eq!(
                pages.get(p, e).map(|x| x.as_bytes().to_vec()),
                Some(d.as_bytes().to_vec())
            );
        }
    }
    // The serde form is that of the model's maps, byte for byte (order
    // included).
    let as_maps: IndexMap<&str, IndexMap<&str, Payload>> = model
        .iter()
        .map(|(p, es)| {
            let es = es
                .iter()
                .map(|(e, d)| (e.as_str(), Payload::from(d.as_str())))
                .collect();
            (p.as_str(), es)
        })
        .collect();
    assert_eq!(
        serde_json::to_string(pages).unwrap(),
        serde_json::to_string(&as_maps).unwrap()
    );
}

fn data(n: usize) -> String {
    format!("\"v{n}\"")
}

#[test]
fn a_clone_is_unchanged_by_writes_to_the_original_and_the_other_way_round() {
    let mut pages = Pages::new();
    for i in 0..1000 {
        pages.apply(&upsert("p", &format!("e{i}"), &data(i)));
    }
    let snapshot = pages.clone();
    let before = listed(&snapshot);

    pages.apply(&upsert("p", "e5", "\"changed\""));
    pages.apply(&upsert("p", "new", "\"new\""));
    pages.apply(&delete("p", "e0"));
    pages.apply(&upsert("q", "e", "\"other page\""));
    assert_eq!(listed(&snapshot), before, "the clone saw a write");
    assert_eq!(snapshot.get("p", "e5").unwrap().as_bytes(), b"\"v5\"");
    assert!(snapshot.get("p", "new").is_none());
    assert!(snapshot.get("q", "e").is_none());
    assert_eq!(pages.get("p", "e5").unwrap().as_bytes(), b"\"changed\"");
    assert!(pages.get("p", "e0").is_none());

    // And writes to the clone leave the original alone.
    let mut copy = pages.clone();
    let original = listed(&pages);
    for i in 0..1000 {
        copy.apply(&delete("p", &format!("e{i}")));
    }
    assert_eq!(listed(&pages), original);
    assert_eq!(copy.element_count(), 2);
}

#[test]
fn a_share_is_unchanged_by_writes_to_the_original_and_the_other_way_round() {
    let mut pages = Pages::new();
    for i in 0..1000 {
        pages.apply(&upsert(&format!("p{}", i % 2), &format!("e{i}"), &data(i)));
    }
    let mut shared = pages.share();
    assert_eq!(shared, pages);
    let before = listed(&shared);
    // A second share with nothing written in between, then writes to the
    // board: every share keeps what it saw.
    let again = pages.share();
    pages.apply(&upsert("p0", "e0", "\"changed\""));
    pages.apply(&upsert("p1", "new", "\"new\""));
    pages.apply(&delete("p1", "e1"));
    for i in (0..1000).step_by(2) {
        pages.apply(&delete("p0", &format!("e{i}")));
    }
    assert!(pages.page("p0").is_none(), "emptied");
    assert_eq!(listed(&shared), before, "the share saw a write");
    assert_eq!(listed(&again), before, "the second share saw a write");
    assert_eq!(pages.get("p1", "new").unwrap().as_bytes(), b"\"new\"");

    // Writes to a share leave the board alone; a share of a share too.
    let board = listed(&pages);
    let grandchild = shared.share();
    shared.apply(&upsert("p1", "e3", "\"share\""));
    shared.apply(&delete("p0", "e2"));
    assert_eq!(listed(&pages), board);
    assert_eq!(listed(&grandchild), before);
    assert_eq!(shared.get("p1", "e3").unwrap().as_bytes(), b"\"share\"");
    assert_eq!(pages.get("p1", "e3").unwrap().as_bytes(), b"\"v3\"");

    // Once every share is gone, the board is written as its own again.
    drop((shared, again, grandchild));
    pages.apply(&upsert("p1", "e5", "\"alone\""));
    assert_eq!(pages.get("p1", "e5").unwrap().as_bytes(), b"\"alone\"");
    assert_eq!(pages.element_count(), 500);
}

#[test]
fn equality_ignores_order_and_sees_every_difference() {
    let a = Pages::from_elements([
        ("p".into(), "e1".into(), Payload::from("1")),
        ("p".into(), "e2".into(), Payload::from("2")),
        ("q".into(), "e3".into(), Payload::from("3")),
    ]);
    let b = Pages::from_elements([
        ("q".into(), "e3".into(), Payload::from("3")),
        ("p".into(), "e2".into(), Payload::from("2")),
        ("p".into(), "e1".into(), Payload::from("1")),
    ]);
    assert_eq!(a, b);
    assert_ne!(listed(&a), listed(&b), "same content, other order");

    let mut c = b.clone();
    assert_eq!(a, c);
    c.apply(&upsert("p", "e1", "9"));
    assert_ne!(a, c, "a different payload");
    let mut d = b.clone();
    d.apply(&delete("q", "e3"));
    assert_ne!(a, d, "a missing page");
    let mut e = b.clone();
    e.apply(&upsert("p", "e4", "4"));
    assert_ne!(a, e, "an extra element");
    assert_eq!(Pages::new(), Pages::default());
}

#[test]
fn serde_round_trips_and_keeps_its_form() {
    let mut pages = Pages::new();
    for i in 0..300 {
        pages.apply(&upsert(&format!("p{}", i % 3), &format!("e{i}"), &data(i)));
    }
    for i in (0..300).step_by(7) {
        pages.apply(&delete(&format!("p{}", i % 3), &format!("e{i}")));
    }
    let json = serde_json::to_string(&pages).unwrap();
    let back: Pages = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pages);
    assert_eq!(
        listed(&back),
        listed(&pages),
        "order survives the round trip"
    );
    assert_eq!(serde_json::to_string(&back).unwrap(), json);

    // Empty pages in stored data are dropped, as before.
    let back: Pages = serde_json::from_str(r#"{"a":{},"b":{"e":[34,120,34]}}"#).unwrap();
    assert_eq!(back.page_count(), 1);
    assert_eq!(back.get("b", "e").unwrap().as_bytes(), b"\"x\"");
}

#[test]
fn order_is_that_of_index_maps_across_chunks_and_index_growth() {
    let mut pages = Pages::new();
    let mut model = Model::new();
    let apply = |m: Mutation, pages: &mut Pages, model: &mut Model| {
        pages.apply(&m);
        model_apply(model, &m);
    };
    // Enough elements for many chunks and several doublings of the index.
    for i in 0..5000 {
        apply(
            upsert("p", &format!("e{i}"), &data(i)),
            &mut pages,
            &mut model,
        );
    }
    check_against(&pages, &model);
    let mut clones = vec![(pages.clone(), model.clone())];
    // Deletes from the front, the middle and the end move the last element.
    for i in (0..5000).step_by(3) {
        apply(delete("p", &format!("e{i}")), &mut pages, &mut model);
        if i % 999 == 0 {
            // Plain clones and shares alike.
            let copy = if i % 2 == 0 {
                pages.share()
            } else {
                pages.clone()
            };
            clones.push((copy, model.clone()));
        }
    }
    check_against(&pages, &model);
    for (i, (clone, m)) in clones.iter().enumerate() {
        assert_eq!(listed(clone), model_listed(m), "clone {i}");
    }
    // Everything gone: the page goes too.
    for i in 0..5000 {
        apply(delete("p", &format!("e{i}")), &mut pages, &mut model);
    }
    check_against(&pages, &model);
    assert!(pages.is_empty());
}

#[derive(Clone, Debug)]
enum Op {
    Upsert(u8, u16, u8),
    Delete(u8, u16),
    Clone,
    Share,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, 0..400u16, any::<u8>()).prop_map(|(p, e, d)| Op::Upsert(p, e, d)),
        3 => (0..3u8, 0..400u16).prop_map(|(p, e)| Op::Delete(p, e)),
        1 => Just(Op::Clone),
        1 => Just(Op::Share),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random upserts and deletes on three pages, with clones and shares
    /// taken along the way: the pages and every copy match the `IndexMap`
    /// model in content, order and serde form, and a change delta matches
    /// the payload bytes.
    #[test]
    fn pages_match_an_index_map_model(ops in proptest::collection::vec(op(), 0..1500)) {
        let mut pages = Pages::new();
        let mut model = Model::new();
        let mut clones = Vec::new();
        let mut bytes: isize = 0;
        for op in ops {
            let m = match op {
                Op::Upsert(p, e, d) => upsert(&format!("p{p}"), &format!("e{e}"), &data(d.into())),
                Op::Delete(p, e) => delete(&format!("p{p}"), &format!("e{e}")),
                Op::Clone => {
                    clones.push((pages.clone(), model.clone()));
                    continue;
                }
                Op::Share => {
                    clones.push((pages.share(), model.clone()));
                    continue;
                }
            };
            bytes += pages.apply(&m);
            model_apply(&mut model, &m);
        }
        check_against(&pages, &model);
        prop_assert_eq!(bytes as usize, pages.payload_bytes());
        for (clone, m) in &clones {
            check_against(clone, m);
        }
    }
}
