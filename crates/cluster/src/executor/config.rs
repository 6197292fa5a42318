//! The executor's configuration, read from the environment the agent gives it.
//!
//! Mesos passes everything an executor needs through `MESOS_*` variables; we
//! read the same names so that the agent side stays a plain Mesos agent.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::ExecutorError;

/// Mesos' defaults, used when the agent leaves a variable out.
const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);
const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Everything the executor knows about itself before it subscribes.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: String,
    /// `MESOS_AGENT_ID`, stamped on every status update when known.
    pub agent_id: Option<String>,
    /// `MESOS_AGENT_ENDPOINT`: the agent's HTTP server, `ip:port`.
    pub agent_endpoint: SocketAddr,
    /// `MESOS_HOSTNAME`: the agent's hostname (defaults to the endpoint's ip).
    pub hostname: String,
    /// `MESOS_SANDBOX` (or `MESOS_DIRECTORY`): the executor sandbox, absolute.
    pub sandbox: PathBuf,
    /// `MESOS_CHECKPOINT`: whether the agent recovers us after a restart.
    /// Without it a broken stream is final, as in Mesos.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`: how long we keep tasks running while the agent
    /// is unreachable.
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`: cap of the re-subscribe backoff.
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`: the most time tasks get to stop
    /// on SHUTDOWN before they are SIGKILLed.
    pub shutdown_grace_period: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`: the secret the agent gave this
    /// executor, sent as `Authorization: Bearer` on every call.
    pub auth_token: Option<String>,
    /// The agent's fetcher cache for this executor's user, when it keeps one:
    /// `CAIRN_FETCHER_CACHE_DIR` (absolute) and `CAIRN_FETCHER_CACHE_SIZE`
    /// (bytes). cairn's own: on Mesos the agent runs the fetcher, here the
    /// executor does, so the agent tells it where its cache is.
    pub fetcher_cache: Option<(PathBuf, u64)>,
}

/// Where the agent's fetcher cache is for this executor's user.
pub const FETCHER_CACHE_DIR_ENV: &str = "CAIRN_FETCHER_CACHE_DIR";
/// How many bytes that cache may hold.
pub const FETCHER_CACHE_SIZE_ENV: &str = "CAIRN_FETCHER_CACHE_SIZE";

impl ExecutorConfig {
    /// Reads the configuration from this process' environment, and the token
    /// from its stdin when the agent hands it over there (the embedded
    /// cluster's agents do: an environment can be read by every process of
    /// the same user). A token in the environment (Mesos' way) is taken out of
    /// it, so that nothing this process starts inherits it.
    pub fn from_env() -> Result<Self, ExecutorError> {
        let mut config = Self::from_lookup(|name| std::env::var(name).ok())?;
        // Called before the executor starts any thread of its own.
        std::env::remove_var(crate::auth::EXECUTOR_TOKEN_ENV);
        if config.auth_token.is_none() {
            config.auth_token = token_from_stdin();
        }
        Ok(config)
    }

    /// Reads the configuration through `lookup`, so tests need not touch the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ExecutorError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or(ExecutorError::MissingEnv(name))
        };
        let duration = |name: &'static str, default: Duration| match lookup(name) {
            None => Ok(default),
            Some(value) if value.is_empty() => Ok(default),
            Some(value) => {
                parse_mesos_duration(&value).map_err(|reason| ExecutorError::InvalidEnv {
                    name,
                    value,
                    reason,
                })
            }
        };

        let endpoint_text = required("MESOS_AGENT_ENDPOINT")?;
        let agent_endpoint =
            parse_endpoint(&endpoint_text).ok_or_else(|| ExecutorError::InvalidEnv {
                name: "MESOS_AGENT_ENDPOINT",
                value: endpoint_text.clone(),
                reason: "expected ip:port".to_owned(),
            })?;
        let sandbox = lookup("MESOS_SANDBOX")
            .filter(|value| !value.is_empty())
            .or_else(|| lookup("MESOS_DIRECTORY").filter(|value| !value.is_empty()))
            .ok_or(ExecutorError::MissingEnv("MESOS_SANDBOX"))?;
        let sandbox = PathBuf::from(sandbox);
        if !sandbox.is_absolute() {
            return Err(ExecutorError::InvalidEnv {
                name: "MESOS_SANDBOX",
                value: sandbox.display().to_string(),
                reason: "must be an absolute path".to_owned(),
            });
        }
        let checkpoint = match lookup("MESOS_CHECKPOINT").as_deref() {
            // Mesos writes "1"; accept the spellings a human would use.
            Some("1") | Some("true") | Some("TRUE") => true,
            Some("0") | Some("false") | Some("FALSE") | Some("") | None => false,
            Some(other) => {
                return Err(ExecutorError::InvalidEnv {
                    name: "MESOS_CHECKPOINT",
                    value: other.to_owned(),
                    reason: "expected 1 or 0".to_owned(),
                })
            }
        };

        let fetcher_cache = match lookup(FETCHER_CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
            None => None,
            Some(dir) if !dir.starts_with('/') => {
                return Err(ExecutorError::InvalidEnv {
                    name: FETCHER_CACHE_DIR_ENV,
                    value: dir,
                    reason: "must be an absolute path".to_owned(),
                })
            }
            Some(dir) => {
                let size = match lookup(FETCHER_CACHE_SIZE_ENV).filter(|v| !v.is_empty()) {
                    None => super::cache::DEFAULT_CACHE_SIZE,
                    Some(text) => text.parse().map_err(|_| ExecutorError::InvalidEnv {
                        name: FETCHER_CACHE_SIZE_ENV,
                        value: text.clone(),
                        reason: "expected a number of bytes".to_owned(),
                    })?,
                };
                Some((PathBuf::from(dir), size))
            }
        };

        Ok(ExecutorConfig {
            framework_id: required("MESOS_FRAMEWORK_ID")?,
            executor_id: required("MESOS_EXECUTOR_ID")?,
            agent_id: lookup("MESOS_AGENT_ID").filter(|value| !value.is_empty()),
            hostname: lookup("MESOS_HOSTNAME")
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| agent_endpoint.ip().to_string()),
            agent_endpoint,
            sandbox,
            checkpoint,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                DEFAULT_SUBSCRIPTION_BACKOFF_MAX,
            )?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                DEFAULT_SHUTDOWN_GRACE_PERIOD,
            )?,
            auth_token: lookup(crate::auth::EXECUTOR_TOKEN_ENV).filter(|t| !t.is_empty()),
            fetcher_cache,
        })
    }

    /// The agent's address, which is also the address tasks bind to and the
    /// one HTTP and TCP health checks probe.
    pub fn agent_ip(&self) -> IpAddr {
        self.agent_endpoint.ip()
    }

    /// `http://ip:port/api/v1/executor`.
    pub fn executor_api_url(&self) -> String {
        format!("http://{}/api/v1/executor", self.agent_endpoint)
    }
}

/// The first line of stdin when stdin is a pipe (the agent writes the token
/// there and closes it); nothing when it is anything else (a terminal, or
/// `/dev/null`), so that reading never waits for a human.
fn token_from_stdin() -> Option<String> {
    use std::io::BufRead;
    use std::os::unix::fs::FileTypeExt;
    let is_pipe = std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo());
    if !is_pipe {
        return None;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    let token = line.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Accepts `ip:port`, and `host:port` when the host is `localhost`, because a
/// libprocess-style endpoint may carry a name.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    let text = text.strip_prefix("http://").unwrap_or(text);
    let text = text.trim_end_matches('/');
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if host == "localhost" {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    None
}

/// Parses a Mesos (stout) duration: a decimal number followed by one of
/// `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`. Stout has no
/// unit-less form; we accept a bare number as seconds because that is what a
/// human means.
pub fn parse_mesos_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let unit_seconds = match unit.trim() {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "secs" | "sec" => 1.0,
        "mins" | "min" => 60.0,
        "hrs" | "hr" => 3600.0,
        "days" | "day" => 86_400.0,
        "weeks" | "week" => 604_800.0,
        other => return Err(format!("unknown duration unit `{other}`")),
    };
    Duration::try_from_secs_f64(value * unit_seconds).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const MINIMAL: &[(&str, &str)] = &[
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "exec-1"),
        ("MESOS_AGENT_ENDPOINT", "127.0.0.2:5051"),
        ("MESOS_SANDBOX", "/tmp/sandbox"),
    ];

    #[test]
    fn mesos_durations_in_every_unit_parse() {
        assert_eq!(parse_mesos_duration("15mins"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_mesos_duration("30secs"), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_mesos_duration("500ms"),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(parse_mesos_duration("2hrs"), Ok(Duration::from_secs(7200)));
        assert_eq!(
            parse_mesos_duration("1days"),
            Ok(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_mesos_duration("2weeks"),
            Ok(Duration::from_secs(1_209_600))
        );
        assert_eq!(parse_mesos_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_mesos_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(
            parse_mesos_duration("1.5secs"),
            Ok(Duration::from_millis(1500))
        );
    }

    #[test]
    fn a_duration_with_an_unknown_unit_or_no_number_is_refused() {
        assert!(parse_mesos_duration("5fortnights").is_err());
        assert!(parse_mesos_duration("secs").is_err());
        assert!(parse_mesos_duration("").is_err());
    }

    #[test]
    fn the_minimal_environment_gives_mesos_defaults() {
        let config = ExecutorConfig::from_lookup(lookup(MINIMAL)).unwrap();
        assert_eq!(config.framework_id, "fw-1");
        assert_eq!(config.executor_id, "exec-1");
        assert_eq!(config.agent_endpoint, "127.0.0.2:5051".parse().unwrap());
        assert_eq!(config.hostname, "127.0.0.2");
        assert_eq!(config.recovery_timeout, Duration::from_secs(900));
        assert_eq!(config.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(config.shutdown_grace_period, Duration::from_secs(5));
        assert!(!config.checkpoint);
        assert_eq!(
            config.executor_api_url(),
            "http://127.0.0.2:5051/api/v1/executor"
        );
    }

    #[test]
    fn every_variable_the_agent_sets_is_read() {
        let mut vars = MINIMAL.to_vec();
        vars.extend([
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "30secs"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "500ms"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "3secs"),
            ("MESOS_AGENT_ID", "agent-S0"),
            ("MESOS_HOSTNAME", "agent-0.local"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok"),
        ]);
        let config = ExecutorConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(config.auth_token.as_deref(), Some("tok"));
        assert!(config.checkpoint);
        assert_eq!(config.recovery_timeout, Duration::from_secs(30));
        assert_eq!(config.subscription_backoff_max, Duration::from_millis(500));
        assert_eq!(config.shutdown_grace_period, Duration::from_secs(3));
        assert_eq!(config.agent_id.as_deref(), Some("agent-S0"));
        assert_eq!(config.hostname, "agent-0.local");
    }

    #[test]
    fn a_missing_framework_id_is_named_in_the_error() {
        let vars: Vec<_> = MINIMAL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "MESOS_FRAMEWORK_ID")
            .collect();
        let error = ExecutorConfig::from_lookup(lookup(&vars)).unwrap_err();
        assert!(error.to_string().contains("MESOS_FRAMEWORK_ID"), "{error}");
    }

    #[test]
    fn mesos_directory_stands_in_for_a_missing_sandbox_variable() {
        let mut vars: Vec<_> = MINIMAL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "MESOS_SANDBOX")
            .collect();
        vars.push(("MESOS_DIRECTORY", "/var/sandbox"));
        let config = ExecutorConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(config.sandbox, PathBuf::from("/var/sandbox"));
    }

    /// MINIMAL with `name` set to `value` (replaced or added).
    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = MINIMAL
            .iter()
            .copied()
            .filter(|(k, _)| *k != name)
            .collect();
        vars.push((name, value));
        vars
    }

    #[test]
    fn a_relative_sandbox_or_a_bad_endpoint_is_refused() {
        let relative = with("MESOS_SANDBOX", "relative/dir");
        assert!(ExecutorConfig::from_lookup(lookup(&relative)).is_err());
        let bad_endpoint = with("MESOS_AGENT_ENDPOINT", "not-an-endpoint");
        assert!(ExecutorConfig::from_lookup(lookup(&bad_endpoint)).is_err());
    }
}
