//! TLS for https:// targets, done in the harness's own connector (rustls)
//! rather than tonic's, so that it offers what grpcurl does: a CA file, a
//! self-signed certificate trusted because it is the one given as
//! `--ca-cert`, a client certificate for mutual TLS, and an explicit
//! `--insecure-skip-verify` for test servers; and so that a failed
//! handshake can be named for what went wrong, with what to do about it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::{WebPkiServerVerifier, verify_server_name};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How to reach an https:// target, as the user gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of CA certificates (or the server's own self-signed one).
    pub ca_cert: Option<PathBuf>,
    /// The name to verify the certificate for (default: the URI's host).
    pub server_name: Option<String>,
    /// PEM client certificate chain and key, for mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (test servers only).
    pub insecure_skip_verify: bool,
}

impl TlsOptions {
    /// Whether any TLS option was given (they need an https:// target).
    pub fn any(&self) -> bool {
        *self != TlsOptions::default()
    }
}

/// A ready TLS client: its configuration and the name it verifies.
#[derive(Clone)]
pub struct Tls {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Builds the client for a target whose URI host is `host`. Errors name
    /// the option and file at fault.
    pub fn new(host: &str, options: &TlsOptions) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let name = options.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.trim_matches(['[', ']']).to_owned())
            .map_err(|err| format!("{name:?} is not a valid TLS server name: {err}"))?;
        let mut roots = RootCertStore::empty();
        let mut pinned = Vec::new();
        match &options.ca_cert {
            Some(path) => {
                for cert in read_certs(path, "--ca-cert")? {
                    roots.add(cert.clone()).map_err(|err| {
                        format!(
                            "--ca-cert {}: a certificate in it is not usable as a CA: {err}",
                            path.display()
                        )
                    })?;
                    pinned.push(cert);
                }
            }
            None => {
                // Unreadable system certificates leave the store short, not
                // the run broken: a server they would have verified fails
                // with "unknown issuer" and the advice to pass --ca-cert.
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|err| format!("cannot build the certificate verifier: {err}"))?;
        let verifier = Arc::new(Verifier {
            webpki,
            pinned,
            insecure: options.insecure_skip_verify,
            provider: Arc::clone(&provider),
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("cannot configure TLS: {err}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&options.client_cert, &options.client_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "--client-cert")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|err| {
                    format!(
                        "--client-key {}: no PEM private key could be read: {err}",
                        key.display()
                    )
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|err| {
                    format!("--client-cert and --client-key do not make a usable pair: {err}")
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(
                    "--client-cert and --client-key go together (mutual TLS needs both)".into(),
                );
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake over a connected TCP stream.
    pub async fn connect(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }

    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// For a target whose first call failed: a handshake of its own with
    /// `authority` (host:port), then an HTTP/2 preface and one read, so
    /// that a refusal the server sends only after the handshake (a TLS 1.3
    /// server that wants a client certificate) is seen too. The failure in
    /// words, or None if TLS itself went well.
    pub async fn diagnose(&self, authority: &str) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let name = self.server_name();
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect(authority).await.ok()?;
            let mut stream = match self.connect(tcp).await {
                Ok(stream) => stream,
                Err(err) => return explain(&err, &name),
            };
            if let Err(err) = stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                .await
            {
                return explain(&err, &name);
            }
            let mut first = [0u8; 64];
            match stream.read(&mut first).await {
                Err(err) => explain(&err, &name),
                Ok(_) => None,
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(3), attempt)
            .await
            .ok()
            .flatten()
    }
}

fn read_certs(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| {
            format!(
                "{option} {}: cannot read PEM certificates: {err}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{option} {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// webpki's verification, except that a certificate given as `--ca-cert`
/// is trusted when the server presents that very certificate (a
/// self-signed development certificate, which webpki refuses as an end
/// entity when it says CA:TRUE), and nothing is checked under
/// `--insecure-skip-verify`. Handshake signatures are always checked, so
/// the server proves it holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    insecure: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(err)
                if self
                    .pinned
                    .iter()
                    .any(|pin| pin.as_ref() == end_entity.as_ref()) =>
            {
                // The very certificate the user trusts: only its name (and
                // the handshake signature) remain to check.
                let parsed = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&parsed, server_name).map_err(|_| err)?;
                Ok(ServerCertVerified::assertion())
            }
            outcome => outcome,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How to make a development certificate rustls accepts as a server's.
pub const MAKE_CERT: &str = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE -keyout key.pem -out cert.pem";

/// A failed handshake in words: what is wrong and what to do, if the error
/// chain holds a rustls error; None otherwise.
pub fn explain(err: &(dyn std::error::Error + 'static), server_name: &str) -> Option<String> {
    let mut next = Some(err);
    let mut tls = None;
    while let Some(err) = next {
        // An io::Error's source() skips the error it wraps (tokio-rustls
        // wraps rustls's that way), and h2 keeps the io::Error of a
        // connection that failed after the handshake to itself: look
        // inside both.
        let io = err
            .downcast_ref::<std::io::Error>()
            .or_else(|| err.downcast_ref::<h2::Error>().and_then(h2::Error::get_io));
        let wrapped = io
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(found) = err.downcast_ref::<rustls::Error>().or(wrapped) {
            tls = Some(found);
            break;
        }
        next = err.source();
    }
    let tls = tls?;
    let text = tls.to_string();
    Some(match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "the server's certificate is not signed by a CA the harness trusts ({text}). Pass its CA, or the server's own self-signed certificate, with --ca-cert FILE; for a test server, --insecure-skip-verify skips verification"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the server's certificate is not valid for the name {server_name:?} ({text}). Pass --server-name with a name it is issued for, or reissue it with that name in its subjectAltName, e.g. {MAKE_CERT}"
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => format!(
                "the server's certificate is outside its validity period ({text}): reissue it, e.g. {MAKE_CERT}"
            ),
            _ if text.contains("CaUsedAsEndEntity") => format!(
                "the server presents a CA certificate (basicConstraints CA:TRUE, as `openssl req -x509` makes by default) as its own, which TLS clients refuse. Pass that very certificate with --ca-cert (the harness then trusts it as given), or make a server certificate with CA:FALSE: {MAKE_CERT}. For a test server, --insecure-skip-verify skips verification"
            ),
            _ => format!(
                "the server's certificate was refused: {text}. Check it with `openssl x509 -noout -text -in cert.pem`"
            ),
        },
        rustls::Error::AlertReceived(alert) => {
            let alert = format!("{alert:?}");
            if alert.contains("CertificateRequired")
                || alert.contains("HandshakeFailure")
                || alert.contains("BadCertificate")
                || alert.contains("UnknownCA")
            {
                format!(
                    "the server ended the TLS handshake with the alert {alert}: it may require a client certificate (mutual TLS) it trusts. Pass --client-cert FILE and --client-key FILE, issued by a CA the server trusts"
                )
            } else {
                format!("the server ended the TLS handshake with the alert {alert}")
            }
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => format!(
            "the TLS handshake failed ({text}): the server may not speak TLS there; dial a plaintext server with http://"
        ),
        _ => format!("the TLS handshake failed: {text}"),
    })
}
