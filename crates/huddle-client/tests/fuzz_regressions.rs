//! Regressions the `client` fuzz target found, each fixed.

use huddle_core::*;

/// fuzz `client`: recovery data with `next_batch = u64::MAX`, imported,
/// then `mutate`: the batch counter overflowed (a panic in debug builds; in
/// release it wrapped to 0 and reused batch ids, which the server answers
/// as retries of old batches: new work silently lost). It is now a typed
/// error that changes nothing.
#[test]
fn exhausted_batch_counter_after_recovery_is_an_error() {
    use huddle_client::{Client, ClientConfig, ClientError, RecoveredBatch, Recovery};
    let now = Timestamp::from_millis(1_767_225_600_000);
    let upsert = || Mutation::Upsert {
        page: "p".into(),
        element: "e".into(),
        data: Payload::from("1"),
    };
    for (next_batch, ok) in [(u64::MAX - 1, 1), (u64::MAX, 0)] {
        let mut client = Client::new(ClientConfig::default(), "b", 1);
        let recovery = Recovery {
            exported_at: now,
            board: "b".into(),
            client_id: "c".into(),
            next_batch,
            batches: vec![RecoveredBatch {
                batch: "c-1".into(),
                mutations: vec![upsert()],
                retries: 0,
            }],
        };
        client.import_recovery(now, recovery).unwrap();
        for _ in 0..ok {
            let batch = client.mutate(now, vec![upsert()]).unwrap();
            assert_eq!(batch.as_str(), format!("c-{next_batch}"));
        }
        assert_eq!(
            client.mutate(now, vec![upsert()]),
            Err(ClientError::BatchIdsExhausted)
        );
        assert_eq!(client.unacked_batches(), 1 + ok);
    }
}

/// fuzz `client`: upsert data with whitespace around the JSON value
/// (`"\r2\r"`) was kept as is by the client, while the wire carries the
/// value's text without it (`2`): the author's replica (which applies its
/// own batch on the ack) then held other bytes than the server and every
/// other client, and an exported recovery did not read back equal. The
/// client now keeps the data as the wire carries it.
#[test]
fn client_trims_whitespace_around_json_data() {
    use huddle_client::{Client, ClientConfig, Recovery};
    let now = Timestamp::from_millis(1_767_225_600_000);
    let mut client = Client::new(ClientConfig::default(), "b", 1);
    let upsert = Mutation::Upsert {
        page: "p".into(),
        element: "e".into(),
        data: Payload::from("\r 2\n\t"),
    };
    client.mutate(now, vec![upsert]).unwrap();
    let exported = client.export_recovery(now);
    let data = exported.batches[0].mutations[0].data().unwrap();
    assert_eq!(data.as_bytes(), b"2");
    let json = exported.to_json().unwrap();
    assert_eq!(Recovery::from_json(json.as_bytes()).unwrap(), exported);
}
