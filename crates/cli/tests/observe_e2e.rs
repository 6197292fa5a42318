//! Watching and guarding a running service, with real processes: a `cairn cluster`, `cairn
//! scheduler`s and real tasks. The scheduler's metrics (as Prometheus reads them), its
//! configurations (`cairn describe`, `cairn config list|show|diff`), and its API's token: kept
//! across restarts, taken from `CAIRN_TOKEN`, and required by every route, whatever the
//! method, unless a flag opens health and metrics.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::service::{cairn_with_env, output_text, ServiceScheduler};
use support::{http_client, poll_until, ClusterProcess};

/// How long a deploy or a rollout may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(180);

/// How long a service's task sleeps: a number of its own, so that a test finds its tasks'
/// processes among those of the tests running beside it.
fn sleep_of(name: &str) -> u32 {
    100_000 + name.bytes().map(u32::from).sum::<u32>()
}

/// A service of `count` pods whose task sleeps; `word` is in its environment (what an update
/// changes).
fn spec(name: &str, count: u32, word: &str) -> String {
    let sleep = sleep_of(name);
    format!(
        r#"
name: {name}
pods:
  hello:
    count: {count}
    tasks:
      server:
        goal: RUNNING
        cmd: "exec sleep {sleep}"
        cpus: 0.1
        memory: 32
        env:
          WORD: {word}
"#
    )
}

/// A scheduler of one service on a test cluster, and how to call its API.
struct Service {
    name: String,
    state: PathBuf,
    scheduler: ServiceScheduler,
}

impl Service {
    /// `cairn scheduler` of service `name` (`count` pods) with its own state dir; `extra` flags.
    fn start(cluster: &ClusterProcess, name: &str, count: u32, extra: &[&str]) -> Service {
        let spec_file = cluster.scratch.join(format!("{name}.yml"));
        std::fs::write(&spec_file, spec(name, count, "one")).unwrap();
        let state = cluster.scratch.join(format!("state-{name}"));
        let scheduler = ServiceScheduler::start(
            &cluster.master,
            &spec_file,
            &state,
            Some(&cluster.credentials_path()),
            cluster.scratch.join(format!("{name}.err")),
            extra,
        );
        Service {
            name: name.to_string(),
            state,
            scheduler,
        }
    }

    fn restart(&mut self, cluster: &ClusterProcess, extra: &[&str]) {
        self.scheduler.stop();
        let spec_file = cluster.scratch.join(format!("{}.yml", self.name));
        self.scheduler = ServiceScheduler::start(
            &cluster.master,
            &spec_file,
            &self.state,
            Some(&cluster.credentials_path()),
            cluster.scratch.join(format!("{}-again.err", self.name)),
            extra,
        );
    }

    fn token_file(&self) -> PathBuf {
        self.state.join(format!("{}.api-token", self.name))
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.token_file())
            .unwrap()
            .trim()
            .to_string()
    }

    /// The API's address, once the scheduler wrote it.
    async fn api(&self) -> String {
        let file = self.state.join(format!("{}.api", self.name));
        poll_until("the scheduler's API address", DEADLINE, || async {
            let text = std::fs::read_to_string(&file).ok()?;
            Some(text.trim().to_string()).filter(|t| !t.is_empty())
        })
        .await
    }

    /// Waits until the deploy plan is complete with `running` tasks running.
    async fn deployed(&self, running: usize) {
        let api = self.api().await;
        let token = self.token();
        poll_until("the deploy to complete", DEADLINE, || async {
            let (code, status) = call(Method::GET, &api, "/v1/status", Some(&token), "").await;
            let status: Value = serde_json::from_str(&status).ok()?;
            let (_, pods) = call(Method::GET, &api, "/v1/pods", Some(&token), "").await;
            let pods: Value = serde_json::from_str(&pods).ok()?;
            let up = pods.to_string().matches("\"TASK_RUNNING\"").count();
            (code == StatusCode::OK && status["deployed"] == true && up == running).then_some(())
        })
        .await;
    }

    /// `cairn ARGS --state-dir <state>` with `env` (the state dir holds this service only).
    async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--state-dir".to_string(),
            self.state.to_str().unwrap().to_string(),
        ]);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            cairn_with_env(&args, &env, DEADLINE)
        })
        .await
        .unwrap()
    }
}

/// One request to the API: its status and body.
async fn call(
    method: Method,
    api: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut request = http_client()
        .request(method, format!("{api}{path}"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.expect("the API answers");
    let code = response.status();
    (code, response.text().await.unwrap_or_default())
}

/// One sample of an exposition: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus' text exposition format strictly: every line is a `# HELP`, a `# TYPE`
/// (before the family's samples, once, of a known type) or a sample of a declared family
/// (`name{label="value",...} number`, escapes `\\`, `\"`, `\n` only, no duplicate series);
/// anything else is an error naming the line.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut series = std::collections::BTreeSet::new();
    if !text.ends_with('\n') {
        return Err("the text does not end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest
                .split_once(' ')
                .ok_or_else(|| at("a HELP without text"))?;
            check_name(name).map_err(|e| at(&e))?;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("a TYPE without type"))?;
            check_name(name).map_err(|e| at(&e))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at("an unknown type"));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(at("a second TYPE for a family"));
            }
            if samples
                .iter()
                .any(|s: &Sample| family(&s.name, &types) == name)
            {
                return Err(at("a TYPE after the family's samples"));
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return Err(at("a line that is neither HELP, TYPE nor a sample"));
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => return Err(at("a sample without a value")),
        };
        check_name(name).map_err(|e| at(&e))?;
        let mut labels = BTreeMap::new();
        let value_text = if rest.starts_with('{') {
            // Byte by byte: names are ASCII, and a value's other bytes are copied through.
            let bytes = rest.as_bytes();
            let mut i = 1;
            loop {
                let key_end = rest[i..].find('=').ok_or_else(|| at("a label without ="))? + i;
                let key = &rest[i..key_end];
                check_name(key).map_err(|e| at(&e))?;
                if bytes.get(key_end + 1) != Some(&b'"') {
                    return Err(at("a label value not in quotes"));
                }
                i = key_end + 2;
                let mut value = Vec::new();
                loop {
                    match bytes.get(i) {
                        Some(b'\\') => {
                            match bytes.get(i + 1) {
                                Some(b'\\') => value.push(b'\\'),
                                Some(b'"') => value.push(b'"'),
                                Some(b'n') => value.push(b'\n'),
                                _ => return Err(at("a bad escape in a label value")),
                            }
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b) => {
                            value.push(*b);
                            i += 1;
                        }
                        None => return Err(at("an unterminated label value")),
                    }
                }
                let value = String::from_utf8(value).map_err(|_| at("a value not UTF-8"))?;
                if labels.insert(key.to_string(), value).is_some() {
                    return Err(at("a label given twice"));
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => break &rest[i + 1..],
                    _ => return Err(at("labels not closed by }")),
                }
            }
        } else {
            rest
        };
        let value_text = value_text
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value"))?;
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| at("a value that is not a number"))?,
        };
        if !types.contains_key(family(name, &types)) {
            return Err(at("a sample of a family without a TYPE"));
        }
        if !series.insert(format!("{name}{labels:?}")) {
            return Err(at("the same series twice"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(samples)
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own.
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
            {
                return base;
            }
        }
    }
    name
}

/// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("`{name}` is not a metric or label name"))
    }
}

/// The value of the series `name` with exactly `labels`, or 0 when absent.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

/// The API's metrics page, parsed (panics with the page when it does not parse).
async fn scrape(api: &str, token: Option<&str>) -> Vec<Sample> {
    let (code, text) = call(Method::GET, api, "/v1/metrics", token, "").await;
    assert_eq!(code, StatusCode::OK, "{text}");
    parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_strict_parser_refuses_what_prometheus_would() {
    // Goal: the parser the metrics test relies on is strict, so a page it accepts is one
    // Prometheus reads. Method: a good page, then one fault at a time.
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\"} 3\n";
    assert_eq!(parse_exposition(good).unwrap()[0].labels["x"], "q\"");
    for bad in [
        "a_total 3\n",
        "# TYPE a_total counter\na_total{x=\"1\"} three\n",
        "# TYPE a_total counter\na_total{x=1} 3\n",
        "# TYPE a_total counter\na_total 3\na_total 4\n",
        "# TYPE a_total counter\na_total{x=\"\\q\"} 3\n",
        "# TYPE a_total countr\n",
        "# TYPE a_total counter\na_total 3",
        "# TYPE 1a counter\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_moves_the_metrics_whose_page_parses_as_prometheus_text_and_needs_the_token() {
    // Goal: what an operator's Prometheus sees follows the deploy: offers, launches, tasks by
    // state, plan states and the latencies; the page is valid exposition text; without the
    // flag it needs the token like every route. Method: scrape while two pods deploy.
    let cluster = ClusterProcess::start_with_agents("metrics", 2).await;
    let svc = Service::start(&cluster, "metered", 2, &[]);
    let api = svc.api().await;
    let token = svc.token();
    let first = scrape(&api, Some(&token)).await;
    svc.deployed(2).await;
    let samples = poll_until("the metrics to show the deploy", DEADLINE, || async {
        let s = scrape(&api, Some(&token)).await;
        (value(&s, "cairn_tasks", &[("state", "TASK_RUNNING")]) == 2.0).then_some(s)
    })
    .await;
    let launches = value(&samples, "cairn_task_launches_total", &[]);
    assert!(
        launches >= 2.0 && launches >= value(&first, "cairn_task_launches_total", &[]),
        "launches: {launches}"
    );
    assert!(value(&samples, "cairn_offers_received_total", &[]) >= 1.0);
    assert!(value(&samples, "cairn_offers_accepted_total", &[]) >= 1.0);
    assert_eq!(
        value(
            &samples,
            "cairn_plan_status",
            &[("plan", "deploy"), ("status", "COMPLETE")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "cairn_plan_steps",
            &[("plan", "deploy"), ("status", "COMPLETE")]
        ),
        2.0
    );
    assert_eq!(value(&samples, "cairn_connected", &[]), 1.0);
    assert_eq!(value(&samples, "cairn_deployed", &[]), 1.0);
    assert!(value(&samples, "cairn_store_commit_seconds_count", &[]) >= 1.0);
    // Each task's STARTING and RUNNING were acknowledged.
    assert!(value(&samples, "cairn_status_ack_seconds_count", &[]) >= 4.0);
    assert!(value(&samples, "cairn_reconciliation_seconds_count", &[]) >= 1.0);
    assert_eq!(
        value(
            &samples,
            "cairn_store_commit_seconds_bucket",
            &[("le", "+Inf")]
        ),
        value(&samples, "cairn_store_commit_seconds_count", &[])
    );
    // The scrapes before this one are counted by route pattern and code, the status reads too.
    assert!(
        value(
            &samples,
            "cairn_api_requests_total",
            &[("route", "/v1/metrics"), ("method", "GET"), ("code", "200")]
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "cairn_api_requests_total",
            &[("route", "/v1/status"), ("method", "GET"), ("code", "200")]
        ) >= 1.0
    );

    // No task failed, so no failure is counted; a killed task's failure is, with its reason.
    assert!(samples
        .iter()
        .all(|s| s.name != "cairn_task_failures_total"));
    let pattern = format!("^sleep {}$", sleep_of("metered"));
    let pid = poll_until("a task's pid", DEADLINE, || async {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .parse::<u32>()
            .ok()
    })
    .await;
    support::signal(pid, libc::SIGKILL);
    let samples = poll_until("a failure and a relaunch counted", DEADLINE, || async {
        let s = scrape(&api, Some(&token)).await;
        let failed = s
            .iter()
            .any(|x| x.name == "cairn_task_failures_total" && x.labels["state"] == "TASK_FAILED");
        let relaunched = value(
            &s,
            "cairn_task_relaunches_total",
            &[("reason", "TASK_FAILED")],
        ) >= 1.0;
        (failed && relaunched).then_some(s)
    })
    .await;
    assert!(value(&samples, "cairn_task_launches_total", &[]) >= 3.0);

    // Without the token (and without the flag), the page is refused like any route.
    let (code, body) = call(Method::GET, &api, "/v1/metrics", None, "").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    // And the refusal is counted.
    let samples = scrape(&api, Some(&token)).await;
    assert_eq!(
        value(
            &samples,
            "cairn_api_requests_total",
            &[("route", "/v1/metrics"), ("method", "GET"), ("code", "401")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_flag_health_and_metrics_answer_without_the_token_and_nothing_else_does() {
    // Goal: `--open-health-metrics` opens exactly GET /v1/health and GET /v1/metrics, for a
    // load balancer and Prometheus. Method: a scheduler with the flag, called without token.
    let cluster = ClusterProcess::start_with_agents("open-metrics", 1).await;
    let svc = Service::start(&cluster, "opened", 1, &["--open-health-metrics"]);
    let api = svc.api().await;
    let (code, text) = call(Method::GET, &api, "/v1/metrics", None, "").await;
    assert_eq!(code, StatusCode::OK, "{text}");
    parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // Health: open too, with one of its answers.
    let (code, body) = call(Method::GET, &api, "/v1/health", None, "").await;
    assert!(
        [200, 202, 417, 503].contains(&code.as_u16()),
        "{code} {body}"
    );
    for (method, path) in [
        (Method::POST, "/v1/metrics"),
        (Method::GET, "/v1/status"),
        (Method::GET, "/v1/configurations/target"),
        (Method::POST, "/v1/plans/deploy/interrupt"),
        (Method::GET, "/v1/metrics/"),
    ] {
        let (code, body) = call(method.clone(), &api, path, None, "").await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_kept_across_a_restart_and_cairn_token_stands_in_for_the_file() {
    // Goal: a client holding the token keeps working when the scheduler restarts (it used to
    // get a new one at each start), the file stays private, and the CLI takes `CAIRN_TOKEN`
    // before the file, never printing a token. Method: restart the scheduler; call with the
    // old token; run the CLI with a state dir holding no token and CAIRN_TOKEN, right and
    // wrong.
    let cluster = ClusterProcess::start_with_agents("token", 1).await;
    let mut svc = Service::start(&cluster, "kept", 1, &[]);
    svc.deployed(1).await;
    let token = svc.token();
    svc.restart(&cluster, &[]);
    let api = poll_until("the restarted scheduler's API", DEADLINE, || async {
        let api = std::fs::read_to_string(svc.state.join("kept.api")).ok()?;
        let api = api.trim().to_string();
        let (code, _) = call(Method::GET, &api, "/v1/status", Some(&token), "").await;
        (code == StatusCode::OK).then_some(api)
    })
    .await;
    assert_eq!(svc.token(), token, "the token file was kept");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(svc.token_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // CAIRN_TOKEN: the CLI pointed at the API with a state dir that holds no token.
    let empty = cluster.scratch.join("elsewhere");
    std::fs::create_dir_all(&empty).unwrap();
    let cli = |env: Vec<(&'static str, String)>| {
        let (api, empty) = (api.clone(), empty.clone());
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            cairn_with_env(
                &[
                    "config",
                    "list",
                    "--api",
                    &api,
                    "--state-dir",
                    empty.to_str().unwrap(),
                    "--service",
                    "kept",
                ],
                &env,
                DEADLINE,
            )
        })
    };
    let out = cli(vec![("CAIRN_TOKEN", token.clone())]).await.unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("TARGET"),
        "{}",
        output_text(&out)
    );
    let out = cli(vec![]).await.unwrap();
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(output_text(&out).contains("401"), "{}", output_text(&out));
    let wrong = "0123456789abcdef0123456789abcdef";
    let out = cli(vec![("CAIRN_TOKEN", wrong.to_string())]).await.unwrap();
    assert!(!out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(text.contains("CAIRN_TOKEN"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(&token), "{text}");
    // Nor does the scheduler log either.
    assert!(!svc.scheduler.output().contains(&token));
    assert!(!svc.scheduler.output().contains(wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_update_describe_and_config_list_show_and_diff_tell_the_two_configurations_apart()
{
    // Goal: an operator sees which configurations the scheduler holds, which is the target,
    // what each says and what changed, for people and for scripts. Method: deploy, update
    // one value, then every configurations command, human and --json, and the API's routes.
    let cluster = ClusterProcess::start_with_agents("describe", 1).await;
    let svc = Service::start(&cluster, "described", 1, &[]);
    svc.deployed(1).await;
    let old_target: String = {
        let (_, body) = call(
            Method::GET,
            &svc.api().await,
            "/v1/configurations/targetId",
            Some(&svc.token()),
            "",
        )
        .await;
        serde_json::from_str(&body).unwrap()
    };
    let spec_file = cluster.scratch.join("described.yml");
    std::fs::write(&spec_file, spec("described", 1, "two")).unwrap();
    let out = svc.cli(&["update", spec_file.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", output_text(&out));
    svc.deployed(1).await;

    // list --json: two, the new one the target.
    let out = svc.cli(&["config", "list", "--json"], &[]).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let new_target = list
        .iter()
        .find(|c| c["target"] == true)
        .and_then(|c| c["id"].as_str())
        .unwrap()
        .to_string();
    assert_ne!(new_target, old_target);
    assert!(list
        .iter()
        .any(|c| c["id"] == old_target.as_str() && c["target"] == false));
    assert!(list.iter().all(|c| c["stored_at"].as_u64().is_some()));
    // list: a table, the target marked.
    let out = svc.cli(&["config", "list"], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STORED"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&new_target) && l.ends_with("TARGET")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&old_target) && !l.contains("TARGET")),
        "{text}"
    );

    // describe: the target as YAML, and as JSON.
    let out = svc.cli(&["describe"], &[]).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(yaml.contains("name: described"), "{yaml}");
    assert!(yaml.contains("WORD: two"), "{yaml}");
    let out = svc.cli(&["describe", "--json"], &[]).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["name"], "described");
    assert!(json.to_string().contains("\"WORD\":\"two\""), "{json}");

    // show: the old one.
    let out = svc.cli(&["config", "show", &old_target], &[]).await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("WORD: one"));
    let out = svc.cli(&["config", "show", "target", "--json"], &[]).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(json.to_string().contains("\"WORD\":\"two\""), "{json}");

    // diff: exactly the changed line.
    let out = svc
        .cli(&["config", "diff", &old_target, "target"], &[])
        .await;
    assert!(out.status.success(), "{}", output_text(&out));
    let diff = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        diff.starts_with(&format!("--- {old_target}\n+++ {new_target}\n@@ ")),
        "{diff}"
    );
    let changed: Vec<&str> = diff
        .lines()
        .skip(2)
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .collect();
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(
        changed[0].starts_with('-') && changed[0].contains("WORD: one"),
        "{diff}"
    );
    assert!(
        changed[1].starts_with('+') && changed[1].contains("WORD: two"),
        "{diff}"
    );
    let out = svc
        .cli(&["config", "diff", &old_target, &new_target, "--json"], &[])
        .await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["from"], old_target.as_str());
    assert_eq!(json["to"], new_target.as_str());
    assert_eq!(json["diff"].as_str().unwrap(), diff);
    let out = svc.cli(&["config", "diff", "target", "target"], &[]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("are the same"));

    // An unknown id: a non-zero exit naming it and the ones there are.
    let out = svc.cli(&["config", "show", "nope"], &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("no configuration `nope`")
            && err.contains(&new_target)
            && err.contains(&old_target),
        "{err}"
    );
    let out = svc.cli(&["config", "diff", "nope", "target"], &[]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no configuration `nope`"));
}

/// Every file of a service's store and its contents (its lock aside).
fn store_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name().is_some_and(|n| n != ".lock") {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

/// Every method a route could be called with.
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

/// The paths of a route pattern to probe: each `{param}` filled with something of the service
/// (a command's every action), so that a route that forgot the guard would do damage.
fn fill(pattern: &str, config: &str) -> Vec<String> {
    let mut paths = vec![pattern.to_string()];
    loop {
        let Some(open) = paths[0].find('{') else {
            return paths;
        };
        let close = paths[0][open..].find('}').expect("a closed parameter") + open;
        let param = paths[0][open + 1..close].to_string();
        let values: Vec<String> = match param.as_str() {
            "action" if pattern.starts_with("/v1/pods") => {
                ["restart", "replace", "pause", "resume"]
                    .map(String::from)
                    .to_vec()
            }
            "action" => [
                "interrupt",
                "stop",
                "start",
                "force-complete",
                "restart",
                "continue",
            ]
            .map(String::from)
            .to_vec(),
            "plan" => vec!["deploy".into()],
            "pod" => vec!["hello-0".into()],
            "task" => vec!["hello-0-server".into()],
            "phase" => vec!["hello".into()],
            "step" => vec!["hello-0:[server]".into()],
            "id" | "other" => vec![config.into()],
            _ => vec!["hello-0".into()],
        };
        let marker = format!("{{{param}}}");
        paths = paths
            .iter()
            .flat_map(|p| {
                let marker = &marker;
                values.iter().map(move |v| p.replacen(marker, v, 1))
            })
            .collect();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_missing_wrong_or_other_service_s_token_with_any_method_and_nothing_changes(
) {
    // Goal: no route of the scheduler's API, whatever its method, acts for a caller without
    // this scheduler's token: none, a made-up one, or the token of another service's state
    // directory. The walk is the router's own route list, so a route added later is walked
    // too. Method: two services; the walk against the first with each wrong credential; the
    // first's store files, its tasks and its plans compared before and after.
    let cluster = ClusterProcess::start_with_agents("auth-routes", 2).await;
    let victim = Service::start(&cluster, "victim", 2, &[]);
    let other = Service::start(&cluster, "other", 1, &[]);
    victim.deployed(2).await;
    other.deployed(1).await;
    let api = victim.api().await;
    let token = victim.token();
    let other_token = other.token();
    assert_ne!(token, other_token);
    let (_, target) = call(
        Method::GET,
        &api,
        "/v1/configurations/targetId",
        Some(&token),
        "",
    )
    .await;
    let target: String = serde_json::from_str(&target).unwrap();

    let store = victim.state.join("victim");
    let plans = |api: String, token: String| async move {
        call(Method::GET, &api, "/v1/plans", Some(&token), "")
            .await
            .1
    };
    let tasks = || async {
        let mut t: Vec<(String, String)> = cluster
            .get_tasks()
            .await
            .tasks
            .iter()
            .map(|t| (t.task_id.value.clone(), t.state.to_string()))
            .collect();
        t.sort();
        t
    };
    let files_before = store_files(&store);
    let tasks_before = tasks().await;
    let plans_before = plans(api.clone(), token.clone()).await;

    // A spec the victim would accept, for the update route: a real change.
    let update = serde_json::to_string(
        &cairn::core::parse_yaml(&spec("victim", 3, "changed"), &Default::default()).unwrap(),
    )
    .unwrap();
    let routes = cairn::api::routes();
    assert!(routes.len() >= 10, "{routes:?}");
    let mut probes = 0;
    let mut wrong = Vec::new();
    for pattern in &routes {
        for path in fill(pattern, &target) {
            for method in METHODS {
                let body = if method == &"POST" && path == "/v1/update" {
                    update.as_str()
                } else if method == &"POST" && path.ends_with("/start") {
                    "{\"KEY\": \"VALUE\"}"
                } else {
                    ""
                };
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                for credential in [
                    None,
                    Some("0".repeat(64).as_str()),
                    Some(other_token.as_str()),
                ] {
                    probes += 1;
                    let (code, answer) = call(method.clone(), &api, &path, credential, body).await;
                    if !matches!(code, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        wrong.push(format!(
                            "{method} {path} ({}) -> {code} {answer}",
                            match credential {
                                None => "no token",
                                Some(t) if t == other_token => "another service's token",
                                Some(_) => "a wrong token",
                            }
                        ));
                    }
                    assert!(
                        !answer.contains(&token) && !answer.contains(&other_token),
                        "{method} {path}: an answer holds a token: {answer}"
                    );
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answered without this scheduler's token:\n{}",
        wrong.join("\n")
    );
    assert!(
        probes >= routes.len() * METHODS.len() * 3,
        "{probes} probes"
    );

    // The walk reached the handlers: with the token, every read answers (not 401, not the
    // router's 404 for a path it does not know).
    for pattern in &routes {
        for path in fill(pattern, &target) {
            let (code, body) = call(Method::GET, &api, &path, Some(&token), "").await;
            assert_ne!(
                code,
                StatusCode::UNAUTHORIZED,
                "GET {path} with the token: {body}"
            );
            assert!(
                !body.contains("no such route"),
                "GET {path} is not routed: {body}"
            );
        }
    }

    // Nothing changed: the store's files, the tasks, the plans.
    assert_eq!(store_files(&store), files_before, "the store changed");
    assert_eq!(tasks().await, tasks_before, "the tasks changed");
    assert_eq!(
        plans(api.clone(), token.clone()).await,
        plans_before,
        "the plans changed"
    );
}
