//! Marathon-style placement constraints: `[["hostname", "MAX_PER", "2"]]` or `hostname:MAX_PER:2`.
//!
//! A pod's placement is kept as the text its author wrote (that is what is stored and compared
//! across config versions) together with the rules parsed from it, so later stages never parse
//! again and never meet a malformed constraint.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A placement string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlacementError(String);

/// What a rule looks at on an agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlacementField {
    /// The agent's hostname (`hostname` or `@hostname`).
    Hostname,
    /// The agent's fault-domain zone (`@zone`).
    Zone,
    /// The agent's fault-domain region (`@region`).
    Region,
    /// A Mesos agent attribute such as `rack`.
    Attribute(String),
}

impl PlacementField {
    fn parse(s: &str) -> Result<Self, PlacementError> {
        match s {
            "hostname" | "@hostname" => Ok(Self::Hostname),
            "@zone" => Ok(Self::Zone),
            "@region" => Ok(Self::Region),
            "" => Err(PlacementError("the field of a constraint is empty".into())),
            other if other.starts_with('@') => Err(PlacementError(format!(
                "unknown field `{other}` (the `@` fields are @hostname, @zone and @region)"
            ))),
            attribute => Ok(Self::Attribute(attribute.to_string())),
        }
    }
}

impl fmt::Display for PlacementField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hostname => f.write_str("hostname"),
            Self::Zone => f.write_str("@zone"),
            Self::Region => f.write_str("@region"),
            Self::Attribute(a) => f.write_str(a),
        }
    }
}

impl Serialize for PlacementField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PlacementField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One Marathon constraint. The semantics are Marathon's; the offer pipeline applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operator")]
pub enum PlacementRule {
    /// Every instance on a different value of `field`.
    #[serde(rename = "UNIQUE")]
    Unique {
        /// What is compared.
        field: PlacementField,
    },
    /// Every instance on the same value: `value`, or whichever the first instance got.
    #[serde(rename = "CLUSTER")]
    Cluster {
        /// What is compared.
        field: PlacementField,
        /// The required value, if fixed.
        value: Option<String>,
    },
    /// Instances spread evenly across the values of `field` (over `groups` values if given).
    #[serde(rename = "GROUP_BY")]
    GroupBy {
        /// What is compared.
        field: PlacementField,
        /// How many distinct values to expect.
        groups: Option<u32>,
    },
    /// Only where `field` fully matches the regular expression.
    #[serde(rename = "LIKE")]
    Like {
        /// What is compared.
        field: PlacementField,
        /// A regular expression that must match the whole value.
        regex: String,
    },
    /// Only where `field` does not fully match the regular expression.
    #[serde(rename = "UNLIKE")]
    Unlike {
        /// What is compared.
        field: PlacementField,
        /// A regular expression that must not match the whole value.
        regex: String,
    },
    /// At most `max` instances per value of `field`.
    #[serde(rename = "MAX_PER")]
    MaxPer {
        /// What is compared.
        field: PlacementField,
        /// The most instances on one value, at least 1.
        max: u32,
    },
    /// Only where `field` equals `value`.
    #[serde(rename = "IS")]
    Is {
        /// What is compared.
        field: PlacementField,
        /// The required value.
        value: String,
    },
    /// Only where `field` differs from `value`.
    #[serde(rename = "IS_NOT")]
    IsNot {
        /// What is compared.
        field: PlacementField,
        /// The excluded value.
        value: String,
    },
}

impl PlacementRule {
    /// Builds a rule from the parts of one constraint: field, operator, optional value.
    fn from_parts(parts: &[String]) -> Result<Self, PlacementError> {
        let (field, operator, value) = match parts {
            [f, o] => (f, o, None),
            [f, o, v] => (f, o, Some(v.as_str())),
            _ => {
                return Err(PlacementError(format!(
                    "a constraint has 2 or 3 parts (field, operator, value), not {}: {parts:?}",
                    parts.len()
                )))
            }
        };
        let field = PlacementField::parse(field.trim())?;
        let operator = operator.trim().to_ascii_uppercase();
        let value = value.map(str::trim);
        let needs = |what: &str| {
            value
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| PlacementError(format!("{operator} needs {what}")))
        };
        let count = |v: &str| -> Result<u32, PlacementError> {
            match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(PlacementError(format!(
                    "{operator} needs a whole number >= 1, not `{v}`"
                ))),
            }
        };
        Ok(match operator.as_str() {
            "UNIQUE" => {
                if let Some(v) = value {
                    return Err(PlacementError(format!("UNIQUE takes no value, got `{v}`")));
                }
                Self::Unique { field }
            }
            "CLUSTER" => Self::Cluster {
                field,
                value: value.filter(|v| !v.is_empty()).map(str::to_string),
            },
            "GROUP_BY" => Self::GroupBy {
                field,
                groups: value.map(count).transpose()?,
            },
            "LIKE" => Self::Like {
                field,
                regex: needs("a regular expression")?,
            },
            "UNLIKE" => Self::Unlike {
                field,
                regex: needs("a regular expression")?,
            },
            "MAX_PER" => Self::MaxPer {
                field,
                max: count(&needs("a number")?)?,
            },
            "IS" => Self::Is {
                field,
                value: needs("a value")?,
            },
            "IS_NOT" => Self::IsNot {
                field,
                value: needs("a value")?,
            },
            other => {
                return Err(PlacementError(format!(
                    "unknown operator `{other}` (expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS or IS_NOT)"
                )))
            }
        })
    }
}

/// A pod's placement: the constraint text as written, and the rules it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    text: String,
    rules: Vec<PlacementRule>,
}

impl Placement {
    /// Parses Marathon's two notations: the JSON form `[["hostname","UNIQUE"],["rack","IS","a"]]`
    /// (a single `["hostname","UNIQUE"]` too; values may be strings or numbers) and the colon
    /// form `hostname:UNIQUE,rack:IS:a`. Operators are case-insensitive.
    pub fn parse(text: &str) -> Result<Self, PlacementError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(PlacementError("the placement is empty".into()));
        }
        let constraints = if trimmed.starts_with('[') {
            parse_json_form(trimmed)?
        } else {
            trimmed
                .split(',')
                .map(|c| c.split(':').map(str::to_string).collect::<Vec<_>>())
                .collect()
        };
        let rules = constraints
            .iter()
            .map(|parts| PlacementRule::from_parts(parts))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_string(),
            rules,
        })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The rules, in the order written. All must hold.
    pub fn rules(&self) -> &[PlacementRule] {
        &self.rules
    }
}

fn parse_json_form(text: &str) -> Result<Vec<Vec<String>>, PlacementError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| PlacementError(format!("not a JSON list of constraints: {e}")))?;
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(PlacementError(format!(
            "a constraint part must be a string or a number, not {other}"
        ))),
    };
    let list = |v: &serde_json::Value| -> Result<Vec<String>, PlacementError> {
        match v {
            serde_json::Value::Array(parts) => parts.iter().map(scalar).collect(),
            other => Err(PlacementError(format!(
                "a constraint must be a list like [\"hostname\", \"UNIQUE\"], not {other}"
            ))),
        }
    };
    match &value {
        // `["hostname", "UNIQUE"]`: one constraint written without the outer list.
        serde_json::Value::Array(items) if items.iter().all(|i| !i.is_array()) => {
            Ok(vec![list(&value)?])
        }
        serde_json::Value::Array(items) => items.iter().map(list).collect(),
        other => Err(PlacementError(format!(
            "expected a list of constraints, not {other}"
        ))),
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// Stored as the text: it is what the author wrote and what config comparison should look at.
impl Serialize for Placement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Placement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<PlacementRule> {
        Placement::parse(text).unwrap().rules().to_vec()
    }

    #[test]
    fn json_form_parses_every_operator() {
        let got = rules(
            r#"[["hostname","UNIQUE"],["rack","CLUSTER","r1"],["@zone","GROUP_BY","3"],
                ["hostname","LIKE","a.*"],["hostname","UNLIKE","b.*"],["@region","MAX_PER",2],
                ["os","IS","linux"],["os","IS_NOT","windows"]]"#,
        );
        use PlacementField::*;
        assert_eq!(
            got,
            vec![
                PlacementRule::Unique { field: Hostname },
                PlacementRule::Cluster {
                    field: Attribute("rack".into()),
                    value: Some("r1".into())
                },
                PlacementRule::GroupBy {
                    field: Zone,
                    groups: Some(3)
                },
                PlacementRule::Like {
                    field: Hostname,
                    regex: "a.*".into()
                },
                PlacementRule::Unlike {
                    field: Hostname,
                    regex: "b.*".into()
                },
                PlacementRule::MaxPer {
                    field: Region,
                    max: 2
                },
                PlacementRule::Is {
                    field: Attribute("os".into()),
                    value: "linux".into()
                },
                PlacementRule::IsNot {
                    field: Attribute("os".into()),
                    value: "windows".into()
                },
            ]
        );
    }

    #[test]
    fn colon_form_and_single_list_mean_the_same_as_the_json_form() {
        assert_eq!(
            rules("hostname:MAX_PER:2,@zone:group_by"),
            rules(r#"[["hostname","MAX_PER","2"],["@zone","GROUP_BY"]]"#)
        );
        assert_eq!(rules(r#"["hostname","UNIQUE"]"#), rules("hostname:UNIQUE"));
    }

    #[test]
    fn malformed_constraints_say_what_is_wrong() {
        let err = |t: &str| Placement::parse(t).unwrap_err().to_string();
        assert_eq!(
            err(r#"[["hostname","SOMETIMES"]]"#),
            "unknown operator `SOMETIMES` (expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS or IS_NOT)"
        );
        assert_eq!(err("hostname:MAX_PER"), "MAX_PER needs a number");
        assert_eq!(
            err("hostname:MAX_PER:0"),
            "MAX_PER needs a whole number >= 1, not `0`"
        );
        assert_eq!(err("hostname:UNIQUE:x"), "UNIQUE takes no value, got `x`");
        assert_eq!(
            err("@rack:UNIQUE"),
            "unknown field `@rack` (the `@` fields are @hostname, @zone and @region)"
        );
        assert!(err("[[\"hostname\"").starts_with("not a JSON list of constraints"));
        assert!(err("hostname").starts_with("a constraint has 2 or 3 parts"));
    }

    #[test]
    fn placement_is_stored_as_its_text() {
        let p = Placement::parse(r#"[["hostname", "UNIQUE"]]"#).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#""[[\"hostname\", \"UNIQUE\"]]""#);
        assert_eq!(serde_json::from_str::<Placement>(&json).unwrap(), p);
    }
}
