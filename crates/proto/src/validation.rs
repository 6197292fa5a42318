//! The rules for names a caller chooses: IDs, roles, and the relative paths that end up inside
//! a sandbox (a volume's `container_path`, a URI's `output_file`).
//!
//! They are Mesos' rules, with Mesos' error texts, because a cluster maps these names to
//! directories: an ID of `..` or with a `/` in it would put a sandbox, a volume or a checkpoint
//! somewhere else on the machine. Where cairn is stricter than Mesos the function says so and
//! why. Pure functions: no IO, so the master, the agents and the scheduler core can all ask the
//! same question and get the same answer.

use std::fmt;

/// The longest file name the cluster's file systems take (POSIX `NAME_MAX`), in bytes. An ID
/// names a directory, so it may not be longer.
pub const NAME_MAX: usize = 255;

/// Why an ID (framework, task, executor, agent, offer, operation, persistence) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("ID must not be empty")]
    Empty,
    #[error("ID must not be greater than {NAME_MAX} characters")]
    TooLong,
    /// Exactly `.` or `..`: names of the directory itself and of its parent.
    #[error("'{0}' is disallowed")]
    Dots(String),
    /// A control character, `/` or `\`.
    #[error("'{}' contains invalid characters", Printable(.0))]
    InvalidCharacters(String),
}

/// Mesos' `validateID`: non-empty, at most [`NAME_MAX`] bytes, not `.` or `..`, and without
/// control characters, `/` or `\` (IDs name directories).
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > NAME_MAX {
        return Err(IdError::TooLong);
    }
    if id == "." || id == ".." {
        return Err(IdError::Dots(id.to_string()));
    }
    if id
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'/' || b == b'\\')
    {
        return Err(IdError::InvalidCharacters(id.to_string()));
    }
    Ok(())
}

/// Why a role is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    #[error("Role names cannot be the empty string")]
    Empty,
    #[error("Role '{}' cannot start with a slash", Printable(.0))]
    LeadingSlash(String),
    #[error("Role '{}' cannot end with a slash", Printable(.0))]
    TrailingSlash(String),
    #[error("Role '{}' cannot contain two adjacent slashes", Printable(.0))]
    AdjacentSlashes(String),
    /// A component that is `.`, `..` or `*`.
    #[error("Role '{}' cannot include '{component}' as a component", Printable(.role))]
    ReservedComponent { role: String, component: String },
    #[error("Role component '{}' is invalid because it starts with a dash", Printable(.0))]
    LeadingDash(String),
    #[error(
        "Role component '{}' is invalid because it contains backspace or whitespace",
        Printable(.0)
    )]
    Whitespace(String),
    /// cairn's own rule: Mesos lets other control characters (NUL among them) through.
    #[error(
        "Role component '{}' is invalid because it contains a control character",
        Printable(.0)
    )]
    ControlCharacter(String),
    /// cairn's own rule: a role names one directory of an agent (its volumes'), so it may not
    /// be longer than a file name.
    #[error("Role '{}...' is longer than {NAME_MAX} bytes", Printable(&.0[..floor(.0, 32)]))]
    TooLong(String),
}

/// Mesos' `roles::validate`, hierarchical roles included: `*`, or `/`-separated components that
/// are neither empty, `.`, `..` nor `*`, do not start with `-`, and hold no whitespace or DEL.
/// cairn also refuses the other control characters and roles longer than [`NAME_MAX`].
pub fn validate_role(role: &str) -> Result<(), RoleError> {
    if role == "*" {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(RoleError::LeadingSlash(role.to_string()));
    }
    if role.ends_with('/') {
        return Err(RoleError::TrailingSlash(role.to_string()));
    }
    if role.contains("//") {
        return Err(RoleError::AdjacentSlashes(role.to_string()));
    }
    if role.is_empty() {
        return Err(RoleError::Empty);
    }
    for component in role.split('/') {
        if matches!(component, "." | ".." | "*") {
            return Err(RoleError::ReservedComponent {
                role: role.to_string(),
                component: component.to_string(),
            });
        }
        if component.starts_with('-') {
            return Err(RoleError::LeadingDash(component.to_string()));
        }
        // Mesos' list: tab, line feed, vertical tab, form feed, carriage return, space, DEL.
        if component
            .bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x7f))
        {
            return Err(RoleError::Whitespace(component.to_string()));
        }
        if component.bytes().any(|b| b.is_ascii_control()) {
            return Err(RoleError::ControlCharacter(component.to_string()));
        }
    }
    if role.len() > NAME_MAX {
        return Err(RoleError::TooLong(role.to_string()));
    }
    Ok(())
}

/// Why a path that must stay inside a sandbox is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelativePathError {
    #[error("the path is empty")]
    Empty,
    #[error("'{}' is absolute", Printable(.0))]
    Absolute(String),
    /// An empty component (`a//b`, a trailing `/`), `.` or `..`.
    #[error("'{}' has a '{component}' component", Printable(.path))]
    Component { path: String, component: String },
    #[error("'{}' contains a control character", Printable(.0))]
    ControlCharacter(String),
    #[error("'{}...' has a component longer than {NAME_MAX} bytes", Printable(&.0[..floor(.0, 32)]))]
    ComponentTooLong(String),
}

/// A path below a sandbox, as cairn takes it for a volume's `container_path` and a URI's
/// `output_file`: relative, and every `/`-separated component a plain file name (not empty,
/// `.` or `..`, no control characters, at most [`NAME_MAX`] bytes). Mesos checks less (only
/// that an output file is not absolute, and the container path when it mounts the volume);
/// cairn refuses at the API what would otherwise leave the sandbox or fail later.
pub fn validate_relative_path(path: &str) -> Result<(), RelativePathError> {
    if path.is_empty() {
        return Err(RelativePathError::Empty);
    }
    if path.starts_with('/') {
        return Err(RelativePathError::Absolute(path.to_string()));
    }
    if path.bytes().any(|b| b.is_ascii_control()) {
        return Err(RelativePathError::ControlCharacter(path.to_string()));
    }
    for component in path.split('/') {
        if matches!(component, "" | "." | "..") {
            return Err(RelativePathError::Component {
                path: path.to_string(),
                component: component.to_string(),
            });
        }
        if component.len() > NAME_MAX {
            return Err(RelativePathError::ComponentTooLong(path.to_string()));
        }
    }
    Ok(())
}

/// Why a URI of a `CommandInfo` is refused, in the fetcher's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Mesos' fetcher refuses `\`, `'` and NUL in a URI (it quotes URIs for a shell).
    #[error("Illegal characters in URI '{}'", Printable(.0))]
    IllegalCharacters(String),
    #[error("URI output file path is empty")]
    EmptyOutputFile,
    #[error("URI output file must be within the sandbox directory: {0}")]
    OutputFileOutsideSandbox(RelativePathError),
}

/// The fetcher's checks of one URI: the value has no illegal characters, and an output file, if
/// given, is a path inside the sandbox ([`validate_relative_path`]).
pub fn validate_uri(value: &str, output_file: Option<&str>) -> Result<(), UriError> {
    if value.contains(['\\', '\'', '\0']) {
        return Err(UriError::IllegalCharacters(value.to_string()));
    }
    match output_file {
        None => Ok(()),
        Some("") => Err(UriError::EmptyOutputFile),
        Some(path) => validate_relative_path(path).map_err(UriError::OutputFileOutsideSandbox),
    }
}

/// The largest char boundary at or below `max`: error texts quote only the start of a long name.
fn floor(s: &str, max: usize) -> usize {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A caller's name in an error text: control characters (NUL among them) are escaped, so the
/// text says what was sent without carrying it into a log line or an HTTP body.
pub(crate) struct Printable<'a>(pub(crate) &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_refused_when_it_could_name_another_directory() {
        assert_eq!(validate_id(""), Err(IdError::Empty));
        assert_eq!(validate_id("."), Err(IdError::Dots(".".into())));
        assert_eq!(validate_id(".."), Err(IdError::Dots("..".into())));
        for bad in [
            "a/b",
            "/abs",
            "../../victim",
            "a\\b",
            "nul\0",
            "tab\t",
            "del\x7f",
        ] {
            assert!(
                matches!(validate_id(bad), Err(IdError::InvalidCharacters(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            validate_id(&"x".repeat(NAME_MAX + 1)),
            Err(IdError::TooLong)
        );
        for good in [
            "x".repeat(NAME_MAX).as_str(),
            "...",
            ".hidden",
            "data-0-node__5f0c",
            "ünïcødé",
            "a b",
        ] {
            assert_eq!(validate_id(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn id_errors_read_as_mesos_writes_them_and_escape_what_they_quote() {
        assert_eq!(
            validate_id("").unwrap_err().to_string(),
            "ID must not be empty"
        );
        assert_eq!(
            validate_id("..").unwrap_err().to_string(),
            "'..' is disallowed"
        );
        assert_eq!(
            validate_id(&"x".repeat(300)).unwrap_err().to_string(),
            "ID must not be greater than 255 characters"
        );
        assert_eq!(
            validate_id("a\0b").unwrap_err().to_string(),
            "'a\\u{0}b' contains invalid characters"
        );
    }

    #[test]
    fn roles_follow_mesos_hierarchical_rules() {
        for good in [
            "*",
            "dev",
            "dev/web",
            "a/b/c",
            "slave_public",
            "role.with.dots",
        ] {
            assert_eq!(validate_role(good), Ok(()), "{good:?}");
        }
        let err = |r: &str| validate_role(r).unwrap_err().to_string();
        assert_eq!(err(""), "Role names cannot be the empty string");
        assert_eq!(err("/a"), "Role '/a' cannot start with a slash");
        assert_eq!(err("/"), "Role '/' cannot start with a slash");
        assert_eq!(err("a/"), "Role 'a/' cannot end with a slash");
        assert_eq!(
            err("a//b"),
            "Role 'a//b' cannot contain two adjacent slashes"
        );
        assert_eq!(err("."), "Role '.' cannot include '.' as a component");
        assert_eq!(
            err("a/.."),
            "Role 'a/..' cannot include '..' as a component"
        );
        assert_eq!(err("a/*"), "Role 'a/*' cannot include '*' as a component");
        assert_eq!(
            err("a/-b"),
            "Role component '-b' is invalid because it starts with a dash"
        );
        assert_eq!(
            err("a b"),
            "Role component 'a b' is invalid because it contains backspace or whitespace"
        );
        assert_eq!(
            err("a\0"),
            "Role component 'a\\u{0}' is invalid because it contains a control character"
        );
        assert!(err(&"r".repeat(NAME_MAX + 1)).contains("longer than 255 bytes"));
        assert_eq!(validate_role(&"r".repeat(NAME_MAX)), Ok(()));
    }

    #[test]
    fn a_relative_path_stays_below_its_directory() {
        for good in ["data", "data/sub", "a.b", "...", ".hidden/x"] {
            assert_eq!(validate_relative_path(good), Ok(()), "{good:?}");
        }
        assert_eq!(validate_relative_path(""), Err(RelativePathError::Empty));
        for abs in ["/", "/etc", "//x"] {
            assert!(
                matches!(
                    validate_relative_path(abs),
                    Err(RelativePathError::Absolute(_))
                ),
                "{abs:?}"
            );
        }
        for bad in [".", "./.", "..", "a/../..", "a//b", "a/", "./data"] {
            assert!(
                matches!(
                    validate_relative_path(bad),
                    Err(RelativePathError::Component { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            validate_relative_path("da\0ta"),
            Err(RelativePathError::ControlCharacter(_))
        ));
        assert!(matches!(
            validate_relative_path(&format!("ok/{}", "x".repeat(NAME_MAX + 1))),
            Err(RelativePathError::ComponentTooLong(_))
        ));
    }

    #[test]
    fn a_uri_is_checked_as_the_fetcher_checks_it() {
        assert_eq!(validate_uri("http://h/a.tgz", None), Ok(()));
        assert_eq!(validate_uri("http://h/a.tgz", Some("bin/a.tgz")), Ok(()));
        assert_eq!(
            validate_uri("http://h/a'b", None).unwrap_err().to_string(),
            "Illegal characters in URI 'http://h/a'b'"
        );
        assert_eq!(
            validate_uri("/a", Some("")).unwrap_err().to_string(),
            "URI output file path is empty"
        );
        assert_eq!(
            validate_uri("/a", Some("/etc/passwd"))
                .unwrap_err()
                .to_string(),
            "URI output file must be within the sandbox directory: '/etc/passwd' is absolute"
        );
        assert!(validate_uri("/a", Some("../x")).is_err());
    }
}
