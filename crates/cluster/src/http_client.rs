//! How cairn builds its HTTP clients, so that a machine without CA certificates still speaks
//! plain HTTP.
//!
//! reqwest verifies TLS with the system's CA roots (read by `rustls-native-certs`: the
//! distribution's bundle, or the PEM file `SSL_CERT_FILE` names and the directories
//! `SSL_CERT_DIR` names instead, as OpenSSL reads them). It loads them when a client is
//! *built*, and refuses to build one when it finds none: a minimal container without
//! `ca-certificates`, or an `SSL_CERT_FILE` that names nothing. Most of cairn's clients talk
//! plain HTTP on loopback (an executor to its agent, the CLI to a cluster) and must not die of
//! that; [`build`] builds them without roots then, and says why https cannot be verified.

/// A built client, and why it cannot verify https peers when it cannot.
#[derive(Debug, Clone)]
pub struct HttpClient {
    pub client: reqwest::Client,
    /// Why no https peer can be trusted (the machine's CA roots could not be loaded), or `None`
    /// when the roots are there.
    pub no_trusted_roots: Option<String>,
}

/// Builds the client `make` describes with the system's CA roots, or, when they cannot be
/// loaded, the same client trusting no root (plain HTTP works, every https peer is refused).
/// `make` is called twice in that case: a `ClientBuilder` cannot be copied. An error is one
/// that has nothing to do with the roots.
pub fn build(make: impl Fn() -> reqwest::ClientBuilder) -> Result<HttpClient, reqwest::Error> {
    match make().build() {
        Ok(client) => Ok(HttpClient {
            client,
            no_trusted_roots: None,
        }),
        Err(error) => match make().tls_certs_only(std::iter::empty()).build() {
            Ok(client) => {
                let why = error_chain(&error);
                tracing::warn!(
                    "no CA certificate could be loaded ({why}): https peers cannot be verified; \
                     install the system's CA bundle or name one with SSL_CERT_FILE"
                );
                Ok(HttpClient {
                    client,
                    no_trusted_roots: Some(why),
                })
            }
            // Not the roots, then: the first error says what.
            Err(_) => Err(error),
        },
    }
}

/// [`build`], for a client that will only ever speak plain HTTP.
pub fn build_plain(
    make: impl Fn() -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, reqwest::Error> {
    build(make).map(|built| built.client)
}

/// An error and its causes, outermost first, each said once: reqwest's own message ("error
/// sending request for url (...)") hides the part a human needs (a certificate that is not
/// trusted, a connection refused) in its sources.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        // A source often repeats its wrapper's text, or the wrapper quotes it.
        if !parts.iter().any(|seen| seen.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn an_error_chain_names_every_cause_once() {
        let error = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "invalid peer certificate: UnknownIssuer",
                    Some(Box::new(Layer("UnknownIssuer", None))),
                ))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
        );
    }
}
