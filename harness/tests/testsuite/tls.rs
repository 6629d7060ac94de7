//! TLS targets: each option (CA, self-signed certificate, server name,
//! mutual TLS, insecure) and both plaintext/TLS mismatches, against the
//! reference server behind a loopback TLS front whose certificates are
//! generated here (rcgen) for each test; no key is committed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use conformance::server::{RunningServer, ServerConfig};
use harness::client::TlsOptions;
use harness::scenario::Capability;
use harness::target::{TargetError, TargetSession, TargetSpec};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig as TlsServerConfig};

use crate::support::{read_report, run, stderr};

/// No test waits longer than this for a target to open.
const LIMIT: Duration = Duration::from_secs(60);

/// A certificate and its key, as PEM files in the test's directory.
struct Pem {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

fn save(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) -> Pem {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write a certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write a key");
    Pem {
        cert: cert_path,
        key: key_path,
        der: cert.der().clone(),
        key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
}

/// Certificates for one test: a CA, a server leaf it issued (for
/// localhost only), a self-signed CA:TRUE certificate as `openssl req
/// -x509` makes by default, and a client certificate from the CA.
struct Certs {
    _dir: tempfile::TempDir,
    /// The CA's certificate file, and the certificate.
    ca: PathBuf,
    ca_der: CertificateDer<'static>,
    leaf: Pem,
    self_signed: Pem,
    client: Pem,
}

fn certs() -> Certs {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca = CertifiedIssuer::self_signed(ca_params("test CA"), ca_key).expect("a CA");
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).expect("write the CA");
    let leaf_key = KeyPair::generate().expect("a leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("a leaf");
    let self_key = KeyPair::generate().expect("a key");
    let mut self_params = ca_params("localhost");
    self_params.subject_alt_names = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("SANs")
        .subject_alt_names;
    let self_signed = self_params
        .self_signed(&self_key)
        .expect("a self-signed cert");
    let client_key = KeyPair::generate().expect("a client key");
    let client = CertificateParams::new(vec!["client".to_owned()])
        .expect("client params")
        .signed_by(&client_key, &ca)
        .expect("a client cert");
    Certs {
        ca: ca_path,
        ca_der: ca.der().clone(),
        leaf: save(dir.path(), "leaf", &leaf, &leaf_key),
        self_signed: save(dir.path(), "self-signed", &self_signed, &self_key),
        client: save(dir.path(), "client", &client, &client_key),
        _dir: dir,
    }
}

/// A TLS front on a loopback port for the reference server: presents
/// `cert`, and requires a client certificate from `client_ca` if given.
/// Returns its port; it serves until the runtime ends.
async fn tls_front(
    cert: &Pem,
    client_ca: Option<&CertificateDer<'static>>,
    backend: std::net::SocketAddr,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = TlsServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.clone()).expect("the client CA");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("a client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(vec![cert.der.clone()], cert.key_der.clone_key())
        .expect("the server certificate");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn backend() -> RunningServer {
    RunningServer::start(ServerConfig::default()).expect("the reference server")
}

/// Opens `uri` with `tls` (bounded), closing it again if it opened.
async fn open(uri: String, tls: TlsOptions) -> Result<Vec<Capability>, TargetError> {
    let spec = TargetSpec::Address { uri, tls };
    let opened = tokio::time::timeout(LIMIT, TargetSession::open(spec, Vec::new()))
        .await
        .expect("the target opens or fails within the limit")?;
    let capabilities = opened.capabilities.iter().copied().collect();
    opened.close().await;
    Ok(capabilities)
}

fn opened(outcome: Result<Vec<Capability>, TargetError>) {
    match outcome {
        Ok(capabilities) => assert!(
            capabilities.contains(&Capability::TestService),
            "{capabilities:?}"
        ),
        Err(err) => panic!("the TLS target did not open: {err}"),
    }
}

fn refused(outcome: Result<Vec<Capability>, TargetError>) -> String {
    match outcome {
        Ok(capabilities) => panic!("the target opened ({capabilities:?}) but should not have"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn a_leaf_issued_by_the_ca_given_opens() {
    let certs = certs();
    let server = backend();
    runtime().block_on(async {
        let port = tls_front(&certs.leaf, None, server.addr()).await;
        let tls = TlsOptions {
            ca_cert: Some(certs.ca.clone()),
            ..TlsOptions::default()
        };
        opened(open(format!("https://localhost:{port}"), tls).await);
    });
}

#[test]
fn server_name_is_verified_and_can_be_given() {
    let certs = certs();
    let server = backend();
    runtime().block_on(async {
        let port = tls_front(&certs.leaf, None, server.addr()).await;
        let uri = format!("https://127.0.0.1:{port}");
        let tls = TlsOptions {
            ca_cert: Some(certs.ca.clone()),
            ..TlsOptions::default()
        };
        let wrong = refused(open(uri.clone(), tls.clone()).await);
        assert!(
            wrong.contains("not valid for the name") && wrong.contains("--server-name"),
            "{wrong}"
        );
        let named = TlsOptions {
            server_name: Some("localhost".into()),
            ..tls
        };
        opened(open(uri, named).await);
    });
}

#[test]
fn a_self_signed_certificate_given_as_ca_cert_opens() {
    let certs = certs();
    let server = backend();
    runtime().block_on(async {
        let port = tls_front(&certs.self_signed, None, server.addr()).await;
        let uri = format!("https://127.0.0.1:{port}");
        let pinned = TlsOptions {
            ca_cert: Some(certs.self_signed.cert.clone()),
            ..TlsOptions::default()
        };
        opened(open(uri.clone(), pinned).await);
        // Another CA given: what is wrong with the certificate, and how
        // to make one that works.
        let other = TlsOptions {
            ca_cert: Some(certs.ca.clone()),
            ..TlsOptions::default()
        };
        let text = refused(open(uri.clone(), other).await);
        assert!(
            text.contains("CA:TRUE") && text.contains("openssl req") && text.contains("--ca-cert"),
            "{text}"
        );
        // No CA given: the system store does not know it.
        let text = refused(open(uri, TlsOptions::default()).await);
        assert!(
            text.contains("--ca-cert") && text.contains("--insecure-skip-verify"),
            "{text}"
        );
    });
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let certs = certs();
    let server = backend();
    runtime().block_on(async {
        let port = tls_front(&certs.leaf, Some(&certs.ca_der), server.addr()).await;
        let uri = format!("https://localhost:{port}");
        let without = TlsOptions {
            ca_cert: Some(certs.ca.clone()),
            ..TlsOptions::default()
        };
        let text = refused(open(uri.clone(), without.clone()).await);
        assert!(text.contains("--client-cert"), "{text}");
        let with = TlsOptions {
            client_cert: Some(certs.client.cert.clone()),
            client_key: Some(certs.client.key.clone()),
            ..without
        };
        opened(open(uri, with).await);
    });
}

#[test]
fn insecure_skip_verify_opens_and_the_report_says_so() {
    let certs = certs();
    let server = backend();
    let rt = runtime();
    let port = rt.block_on(tls_front(&certs.self_signed, None, server.addr()));
    let uri = format!("https://127.0.0.1:{port}");
    let insecure = TlsOptions {
        insecure_skip_verify: true,
        ..TlsOptions::default()
    };
    rt.block_on(async { opened(open(uri.clone(), insecure).await) });
    let out = tempfile::tempdir().expect("temp dir");
    let out_dir = out.path().to_str().expect("utf-8").to_owned();
    // The CLI runs while this runtime keeps the TLS front serving.
    let output = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            run(&[
                "run",
                "--target",
                &uri,
                "--insecure-skip-verify",
                "--filter",
                "channel.health-watch-held-open",
                // The load generator speaks HTTP/2 on its own, over TLS too.
                "--filter",
                "channel.sustained-load",
                "--out",
                &out_dir,
            ])
        })
        .await
        .expect("the CLI ran")
    });
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = read_report(out.path());
    let description = report["target"]["description"].as_str().unwrap_or_default();
    assert!(description.contains("insecure"), "{description}");
    let markdown = std::fs::read_to_string(out.path().join("report.md")).expect("report.md");
    assert!(markdown.contains("--insecure-skip-verify"), "{markdown}");
}

#[test]
fn plaintext_dialled_to_tls_is_named_a_mismatch() {
    let certs = certs();
    let server = backend();
    runtime().block_on(async {
        let port = tls_front(&certs.leaf, None, server.addr()).await;
        let text = refused(open(format!("http://127.0.0.1:{port}"), TlsOptions::default()).await);
        assert!(
            text.contains("disagree on TLS") && text.contains("https://"),
            "{text}"
        );
    });
}

#[test]
fn tls_dialled_to_plaintext_is_named_a_mismatch() {
    let server = backend();
    runtime().block_on(async {
        let uri = format!("https://{}", server.addr());
        let insecure = TlsOptions {
            insecure_skip_verify: true,
            ..TlsOptions::default()
        };
        let text = refused(open(uri, insecure).await);
        assert!(
            text.contains("disagree on TLS") && text.contains("http://"),
            "{text}"
        );
    });
}
