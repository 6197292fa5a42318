//! The embedded cluster's fetcher with https URIs and its cache: the real `cairn cluster`, real
//! executors and tasks, and an https artifact server of the test's own on loopback, with a CA
//! made for the test (by the `openssl` command) that the cluster trusts through
//! `SSL_CERT_FILE`, as an operator would point it at a private CA.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use cairn_proto::{
    CommandInfo, CommandUri, Offer, OfferOperation, TaskInfo, TaskState, TaskStatus,
};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const ROLE: &str = "fetch";

/// Runs `openssl` with `args` in `dir`, failing the test with what it said.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl (Debian's package `openssl`)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA of the test's own, and a certificate for 127.0.0.1 it signed.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn make(dir: &Path, name: &str) -> Pki {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let ca_subject = format!("/CN=cairn test CA {name}");
        openssl(
            &dir,
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    &ca_subject,
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &dir,
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "leaf.key",
                    "-out",
                    "leaf.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("leaf.pem"),
            key: dir.join("leaf.key"),
        }
    }
}

/// An https server of files, counting the requests for each path. A path in `cut_first` gets
/// its first answer cut short: the length of the whole file promised, ten bytes sent, the
/// connection closed.
struct ArtifactServer {
    base: String,
    requests: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ArtifactServer {
    async fn start(pki: &Pki, files: HashMap<String, Vec<u8>>, cut_first: &[&str]) -> Self {
        let certs = CertificateDer::pem_file_iter(&pki.cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counted = requests.clone();
        let files = Arc::new(files);
        let cut: Arc<HashSet<String>> = Arc::new(cut_first.iter().map(|p| p.to_string()).collect());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counted, files, cut) = (
                    acceptor.clone(),
                    counted.clone(),
                    files.clone(),
                    cut.clone(),
                );
                tokio::spawn(async move {
                    // A client that does not trust us hangs up here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match tls.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let seen = {
                        let mut counted = counted.lock().unwrap();
                        let n = counted.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let Some(body) = files.get(&path) else {
                        let _ = tls
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        let _ = tls.shutdown().await;
                        return;
                    };
                    let header = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(header.as_bytes()).await;
                    let sent = if seen == 1 && cut.contains(&path) {
                        &body[..10.min(body.len())]
                    } else {
                        &body[..]
                    };
                    let _ = tls.write_all(sent).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        ArtifactServer {
            base,
            requests,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for ArtifactServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A 1-agent cluster that trusts `pki`'s CA (and only it: `SSL_CERT_FILE` replaces the
/// system's roots, as OpenSSL reads it).
async fn cluster_trusting(name: &str, pki: &Pki) -> ClusterProcess {
    ClusterProcess::start_with(
        name,
        ClusterOptions {
            agents: 1,
            env: vec![("SSL_CERT_FILE".into(), pki.ca.display().to_string())],
            ..ClusterOptions::default()
        },
    )
    .await
}

/// Where a test makes its certificates and artifacts before the cluster starts.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fetch-e2e/{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uri(value: String) -> CommandUri {
    CommandUri::new(value)
}

fn cached(value: String) -> CommandUri {
    CommandUri {
        cache: Some(true),
        ..CommandUri::new(value)
    }
}

/// A command task on `offer`'s agent fetching `uris`, then running `command`.
fn fetching_task(offer: &Offer, id: &str, uris: Vec<CommandUri>, command: &str) -> TaskInfo {
    let role = offer_role(offer);
    let mut t = task(
        id,
        &offer.agent_id,
        "",
        vec![scalar("cpus", 0.1, &role), scalar("mem", 32.0, &role)],
    );
    t.command = Some(CommandInfo {
        uris,
        ..CommandInfo::shell(command)
    });
    t
}

fn offer_role(offer: &Offer) -> String {
    offer
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.clone())
        .unwrap_or_else(|| ROLE.to_string())
}

async fn end_of(sched: &mut Scheduler, id: &str) -> TaskStatus {
    sched
        .wait_for(&format!("{id} to end"), |e| {
            let s = &e.update.as_ref()?.status;
            (s.task_id.as_str() == id && s.state.is_terminal()).then(|| s.clone())
        })
        .await
}

/// A gzipped tarball holding `app/hello.txt`.
fn tarball(dir: &Path) -> Vec<u8> {
    let content = dir.join("tarball");
    std::fs::create_dir_all(content.join("app")).unwrap();
    std::fs::write(content.join("app/hello.txt"), "hello-from-the-tarball\n").unwrap();
    let status = Command::new("tar")
        .args(["-czf", "../app.tar.gz", "app"])
        .current_dir(&content)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(dir.join("app.tar.gz")).unwrap()
}

#[tokio::test]
async fn an_https_tarball_is_unpacked_and_an_https_script_lands_executable_at_its_output_file() {
    // Goal: https URIs reach the sandbox as http ones do, with `extract`, `executable` and
    // `output_file`. Method: a task fetches a tar.gz and a script from an https server whose
    // CA the cluster trusts, and runs the script, which reads the unpacked file.
    let dir = scratch_dir("https");
    let pki = Pki::make(&dir, "trusted");
    let files = HashMap::from([
        ("/dist/app.tar.gz".to_string(), tarball(&dir)),
        (
            "/tools/run.sh".to_string(),
            b"#!/bin/sh\ncat app/hello.txt > ran.txt\n".to_vec(),
        ),
    ]);
    let server = ArtifactServer::start(&pki, files, &[]).await;
    let cluster = cluster_trusting("fetch-https", &pki).await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("fetcher", ROLE)).await;
    let offer = sched.any_offer().await;
    let script = CommandUri {
        executable: Some(true),
        output_file: Some("bin/start".into()),
        ..uri(server.url("/tools/run.sh"))
    };
    let runs = fetching_task(
        &offer,
        "runs-what-it-fetched",
        vec![uri(server.url("/dist/app.tar.gz")), script],
        "test -x bin/start && ./bin/start && grep -qx hello-from-the-tarball ran.txt",
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![runs])])
        .await;
    let end = end_of(&mut sched, "runs-what-it-fetched").await;
    assert_eq!(end.state, TaskState::Finished, "{end:?}");
    assert_eq!(server.requests("/dist/app.tar.gz"), 1);
    assert_eq!(server.requests("/tools/run.sh"), 1);
}

#[tokio::test]
async fn an_untrusted_https_server_or_a_missing_file_fails_the_task_naming_the_uri_and_why() {
    // Goal: a URI that cannot be fetched is a task failure a human can act on. Method: one task
    // fetches from a server whose certificate another CA signed, one a file the trusted server
    // does not have; neither command may run.
    let dir = scratch_dir("untrusted");
    let trusted = Pki::make(&dir, "trusted");
    let stranger = Pki::make(&dir, "stranger");
    let file = HashMap::from([("/dist/app.tgz".to_string(), b"payload".to_vec())]);
    let known = ArtifactServer::start(&trusted, file.clone(), &[]).await;
    let unknown = ArtifactServer::start(&stranger, file, &[]).await;
    let cluster = cluster_trusting("fetch-untrusted", &trusted).await;
    let ran = cluster.scratch.join("ran");
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("fetcher", ROLE)).await;
    let offer = sched.any_offer().await;
    let command = format!("touch {}", ran.display());
    let untrusted_uri = unknown.url("/dist/app.tgz");
    let missing_uri = known.url("/dist/missing.tgz");
    let tasks = vec![
        fetching_task(
            &offer,
            "untrusted",
            vec![uri(untrusted_uri.clone())],
            &command,
        ),
        fetching_task(&offer, "missing", vec![uri(missing_uri.clone())], &command),
    ];
    sched
        .accept(&offer.id, vec![OfferOperation::launch(tasks)])
        .await;

    let failed = end_of(&mut sched, "untrusted").await;
    assert_eq!(failed.state, TaskState::Failed, "{failed:?}");
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains(&untrusted_uri) && message.contains("UnknownIssuer"),
        "{message}"
    );
    let failed = end_of(&mut sched, "missing").await;
    assert_eq!(failed.state, TaskState::Failed, "{failed:?}");
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains(&missing_uri) && message.contains("404"),
        "{message}"
    );
    assert!(!ran.exists(), "a command ran without its URI");
}

#[tokio::test]
async fn a_cached_uri_is_downloaded_once_for_two_tasks_and_a_cut_download_is_never_cached() {
    // Goal: `cache` as Mesos' fetcher has it, and a cache that never serves half a file.
    // Method: two tasks launched together fetch one cached URI; a third fetches a cached URI
    // whose first download the server cuts short, and a fourth the same URI afterwards.
    let dir = scratch_dir("cache");
    let pki = Pki::make(&dir, "trusted");
    let shared = vec![b's'; 64 * 1024];
    let flaky = vec![b'f'; 64 * 1024];
    let files = HashMap::from([
        ("/dist/shared.bin".to_string(), shared.clone()),
        ("/dist/flaky.bin".to_string(), flaky.clone()),
    ]);
    let server = ArtifactServer::start(&pki, files, &["/dist/flaky.bin"]).await;
    let cluster = cluster_trusting("fetch-cache", &pki).await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("fetcher", ROLE)).await;
    let offer = sched.any_offer().await;
    let agent = cluster.agent_index(&offer.agent_id).await;
    let whole = |name: &str, len: usize| format!("test \"$(wc -c < {name})\" -eq {len}");
    let tasks = vec![
        fetching_task(
            &offer,
            "first",
            vec![cached(server.url("/dist/shared.bin"))],
            &whole("shared.bin", shared.len()),
        ),
        fetching_task(
            &offer,
            "second",
            vec![cached(server.url("/dist/shared.bin"))],
            &whole("shared.bin", shared.len()),
        ),
        fetching_task(
            &offer,
            "cut",
            vec![cached(server.url("/dist/flaky.bin"))],
            "true",
        ),
    ];
    sched
        .accept(&offer.id, vec![OfferOperation::launch(tasks)])
        .await;
    for id in ["first", "second"] {
        let end = end_of(&mut sched, id).await;
        assert_eq!(end.state, TaskState::Finished, "{id}: {end:?}");
    }
    assert_eq!(server.requests("/dist/shared.bin"), 1);
    let cut = end_of(&mut sched, "cut").await;
    assert_eq!(cut.state, TaskState::Failed, "{cut:?}");
    let message = cut.message.unwrap_or_default();
    assert!(
        message.contains("flaky.bin") && message.contains("download interrupted"),
        "{message}"
    );
    // The cache holds the shared file and nothing of the cut one, not even a leftover.
    let cache = cluster.agent_dir(agent).join("fetcher-cache/root");
    let held: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    let entry = cache.join(&held[0]);
    assert_eq!(std::fs::read(entry.join("data")).unwrap(), shared);

    let offer = sched.any_offer().await;
    let again = fetching_task(
        &offer,
        "again",
        vec![cached(server.url("/dist/flaky.bin"))],
        &whole("flaky.bin", flaky.len()),
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![again])])
        .await;
    let end = end_of(&mut sched, "again").await;
    assert_eq!(end.state, TaskState::Finished, "{end:?}");
    assert_eq!(server.requests("/dist/flaky.bin"), 2);
}
