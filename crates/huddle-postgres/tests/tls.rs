//! TLS to PostgreSQL: a private cluster with `ssl = on` and a certificate
//! made here (a CA of the test's own and a server certificate it signed),
//! reached with each `sslmode`; and `sslmode=require` against a server
//! without TLS, which must fail as [`OpenError::Tls`].

use std::path::Path;

use huddle_core::BoardId;
use huddle_postgres::testing::{database, Cluster};
use huddle_postgres::{OpenError, PostgresOptions, PostgresStore};
use huddle_store::Store;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA and a server certificate it issued for `names`.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(names: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, pem: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

async fn connect(url: &str) -> Result<PostgresStore, OpenError> {
    PostgresStore::connect(url, PostgresOptions::default().max_connections(2)).await
}

/// How many of the connections of application `app` use TLS, as the
/// server sees them.
async fn tls_connections(url: &str, app: &str) -> i64 {
    let (client, conn) =
        tokio_postgres::connect(&format!("{url}?sslmode=disable"), tokio_postgres::NoTls)
            .await
            .unwrap();
    let task = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE application_name = $1 AND ssl",
            &[&app],
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_against_a_tls_server() {
    // The certificate names a host other than the one connected to
    // (127.0.0.1), so that verify-ca and verify-full differ.
    let server = pki(&["db.huddle.test"]);
    let Some(cluster) = (match Cluster::start_tls(&server.cert_pem, &server.key_pem) {
        Ok(c) => Some(c),
        Err(reason) => {
            huddle_postgres::testing::skip(&reason);
            None
        }
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &server.ca_pem);
    let stranger = write(dir.path(), "other-ca.pem", &pki(&["x"]).ca_pem);
    let db = cluster.database().await;

    // require: encrypted, not checked.
    let store = connect(&format!(
        "{}?sslmode=require&application_name=t_require",
        db.url
    ))
    .await
    .unwrap_or_else(|e| panic!("require: {e}\n{}", cluster.log()));
    let epoch = store
        .acquire_board(&BoardId::from("b"), &huddle_store::Node::default())
        .await
        .unwrap();
    assert!(epoch.epoch.get() >= 1);
    assert!(
        tls_connections(&db.url, "t_require").await >= 1,
        "the store's connection is not TLS"
    );
    drop(store);

    // verify-ca with the right CA: the chain is checked, not the name.
    for url in [
        format!("{}?sslmode=verify-ca&sslrootcert={ca}", db.url),
        // require with a root file is verify-ca (libpq's rule).
        format!("{}?sslmode=require&sslrootcert={ca}", db.url),
    ] {
        let store = connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        store
            .acquire_board(&BoardId::from("b"), &huddle_store::Node::default())
            .await
            .unwrap();
    }

    // A CA that did not sign the certificate, or Mozilla's roots: refused.
    for url in [
        format!("{}?sslmode=verify-ca&sslrootcert={stranger}", db.url),
        format!("{}?sslmode=require&sslrootcert={stranger}", db.url),
        format!("{}?sslmode=verify-ca", db.url),
    ] {
        match connect(&url).await {
            Err(OpenError::Tls(msg)) => {
                assert!(msg.to_lowercase().contains("certificate"), "{url}: {msg}")
            }
            other => panic!("{url}: expected a TLS error, got {other:?}"),
        }
    }

    // verify-full: the certificate is for db.huddle.test, not 127.0.0.1.
    let url = format!("{}?sslmode=verify-full&sslrootcert={ca}", db.url);
    match connect(&url).await {
        Err(OpenError::Tls(msg)) => assert!(msg.contains("not valid for name"), "{msg}"),
        other => panic!("verify-full to the wrong name: expected a TLS error, got {other:?}"),
    }
    // ... and passes for the name it was issued for (key=value form, the
    // host name resolved to the cluster's address).
    let url = format!(
        "host=db.huddle.test hostaddr=127.0.0.1 port={} user=postgres dbname={} \
         sslmode=verify-full sslrootcert='{ca}'",
        cluster.port(),
        db.name
    );
    let store = connect(&url)
        .await
        .unwrap_or_else(|e| panic!("verify-full by name: {e}"));
    store
        .acquire_board(&BoardId::from("b"), &huddle_store::Node::default())
        .await
        .unwrap();
    drop(store);

    // disable: no TLS, and prefer takes it when offered.
    let store = connect(&format!(
        "{}?sslmode=disable&application_name=t_disable",
        db.url
    ))
    .await
    .unwrap();
    store
        .acquire_board(&BoardId::from("b"), &huddle_store::Node::default())
        .await
        .unwrap();
    assert_eq!(
        tls_connections(&db.url, "t_disable").await,
        0,
        "disable used TLS"
    );
    let store = connect(&format!("{}?application_name=t_prefer", db.url))
        .await
        .unwrap();
    store
        .acquire_board(&BoardId::from("b"), &huddle_store::Node::default())
        .await
        .unwrap();
    assert!(
        tls_connections(&db.url, "t_prefer").await >= 1,
        "prefer did not use TLS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_against_a_server_without_tls_is_a_tls_error() {
    let Some(db) = database().await else {
        return;
    };
    if std::env::var(huddle_postgres::testing::DATABASE_URL_VAR).is_ok_and(|v| !v.is_empty()) {
        eprintln!("*** SKIPPED: the external test server may offer TLS ***");
        return;
    }
    match connect(&format!("{}?sslmode=require", db.url)).await {
        Err(OpenError::Tls(msg)) => {
            assert!(msg.contains("does not offer TLS"), "{msg}");
        }
        other => panic!("expected OpenError::Tls, got {other:?}"),
    }
    // The same server without the requirement is fine.
    connect(&format!("{}?sslmode=prefer", db.url))
        .await
        .unwrap();
}
