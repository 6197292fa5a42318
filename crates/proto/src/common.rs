//! Small messages shared by every API: labels, time, bytes, values,
//! attributes, environment, URLs and a few serde helpers.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// `deserialize_with` helper: `null` means "unset", which for a repeated or
/// defaulted field is its empty value. Plain serde would reject `null` for a
/// `Vec`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

// Mesos writes padded standard base64; we accept unpadded input too because
// hand-written clients sometimes strip the `=`.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A proto `bytes` field: raw bytes, written as standard base64 with padding.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Bytes(bytes.into())
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The base64 text as it appears on the wire.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.0)
    }

    /// Parses wire base64 (padding optional).
    pub fn from_base64(text: &str) -> Result<Self, base64::DecodeError> {
        BASE64.decode(text.trim()).map(Bytes)
    }
}

impl fmt::Debug for Bytes {
    // The base64 form is what one sees on the wire and in logs, so it is
    // the easiest form to compare by eye.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", self.to_base64())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for Bytes {
    fn from(v: [u8; N]) -> Self {
        Bytes(v.to_vec())
    }
}

impl From<&str> for Bytes {
    fn from(v: &str) -> Self {
        Bytes(v.as_bytes().to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Bytes::from_base64(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// The `UUID` message: `{"value": <base64>}`. Used by `OperationStatus.uuid`,
/// unlike `TaskStatus.uuid` which is bare bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Uuid {
    pub value: Bytes,
}

impl Uuid {
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Uuid {
            value: bytes.into(),
        }
    }
}

/// One key/value label. `value` is optional in the proto.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Label {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Label {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// `{"labels": [...]}` — note the doubled name on the wire.
#[derive(Debug, Clone, Eq, Default, Serialize, Deserialize)]
pub struct Labels {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub labels: Vec<Label>,
}

impl PartialEq for Labels {
    /// Order-insensitive: Mesos compares label lists as multisets, and
    /// reservations differing only in label order are the same reservation.
    fn eq(&self, other: &Self) -> bool {
        if self.labels.len() != other.labels.len() {
            return false;
        }
        let mut left: Vec<&Label> = self.labels.iter().collect();
        let mut right: Vec<&Label> = other.labels.iter().collect();
        let order = |a: &&Label, b: &&Label| (&a.key, &a.value).cmp(&(&b.key, &b.value));
        left.sort_by(order);
        right.sort_by(order);
        left == right
    }
}

impl Labels {
    pub fn new() -> Self {
        Labels::default()
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Labels {
            labels: pairs.into_iter().map(|(k, v)| Label::new(k, v)).collect(),
        }
    }

    /// The value of the first label with `key`. A label present without a
    /// value reads as `""`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.key == key)
            .map(|l| l.value.as_deref().unwrap_or(""))
    }

    /// Sets `key` to `value`, replacing an existing label with that key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.labels.iter_mut().find(|l| l.key == key) {
            Some(label) => label.value = Some(value),
            None => self.labels.push(Label {
                key,
                value: Some(value),
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }
}

/// A duration: `{"nanoseconds": <int64>}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct DurationInfo {
    #[serde(with = "crate::num::one")]
    pub nanoseconds: i64,
}

impl DurationInfo {
    pub fn from_nanos(nanoseconds: i64) -> Self {
        DurationInfo { nanoseconds }
    }

    pub fn from_secs_f64(seconds: f64) -> Self {
        DurationInfo {
            nanoseconds: (seconds * 1e9) as i64,
        }
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.nanoseconds as f64 / 1e9
    }

    /// Negative durations (allowed by the proto) clamp to zero.
    pub fn to_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.nanoseconds).unwrap_or(0))
    }
}

impl From<std::time::Duration> for DurationInfo {
    fn from(d: std::time::Duration) -> Self {
        DurationInfo {
            nanoseconds: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// A point in time since the Unix epoch: `{"nanoseconds": <int64>}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct TimeInfo {
    #[serde(with = "crate::num::one")]
    pub nanoseconds: i64,
}

impl TimeInfo {
    pub fn from_nanos(nanoseconds: i64) -> Self {
        TimeInfo { nanoseconds }
    }

    pub fn from_secs_f64(seconds: f64) -> Self {
        TimeInfo {
            nanoseconds: (seconds * 1e9) as i64,
        }
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.nanoseconds as f64 / 1e9
    }
}

/// Offer filters sent with ACCEPT and DECLINE.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Filters {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// Mesos' default when `refuse_seconds` is unset.
    pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

    pub fn refuse_seconds(seconds: f64) -> Self {
        Filters {
            refuse_seconds: Some(seconds),
        }
    }

    /// The effective refusal time, with the Mesos default applied.
    pub fn effective_refuse_seconds(&self) -> f64 {
        self.refuse_seconds.unwrap_or(Self::DEFAULT_REFUSE_SECONDS)
    }
}

wire_enum! {
    /// `Value.Type`: which payload a resource or attribute carries.
    pub enum ValueType {
        Scalar = "SCALAR",
        Ranges = "RANGES",
        Set = "SET",
        Text = "TEXT",
    }
    unknown = "UNKNOWN";
    default = Scalar;
}

/// `Value.Scalar`. Mesos keeps three decimal digits (fixed point).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scalar {
    #[serde(with = "crate::num::one")]
    pub value: f64,
}

/// `Value.Range`: an inclusive interval.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Range {
    #[serde(with = "crate::num::one")]
    pub begin: u64,
    #[serde(with = "crate::num::one")]
    pub end: u64,
}

impl Range {
    pub fn new(begin: u64, end: u64) -> Self {
        Range { begin, end }
    }
}

/// `Value.Ranges`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ranges {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub range: Vec<Range>,
}

/// `Value.Set`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Set {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub item: Vec<String>,
}

/// `Value.Text`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
}

/// An agent attribute (`zone:local`, `rack:r1`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

impl Attribute {
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            type_: ValueType::Text,
            text: Some(Text {
                value: value.into(),
            }),
            ..Default::default()
        }
    }

    pub fn scalar(name: impl Into<String>, value: f64) -> Self {
        Attribute {
            name: name.into(),
            type_: ValueType::Scalar,
            scalar: Some(Scalar { value }),
            ..Default::default()
        }
    }

    /// The value rendered as text, the way placement constraints compare it.
    pub fn value_string(&self) -> String {
        match self.type_ {
            ValueType::Text => self
                .text
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
            ValueType::Scalar => self
                .scalar
                .map(|s| crate::resources::format_scalar(s.value))
                .unwrap_or_default(),
            ValueType::Ranges => self
                .ranges
                .as_ref()
                .map(|r| crate::resources::format_ranges(&r.range))
                .unwrap_or_default(),
            ValueType::Set => self
                .set
                .as_ref()
                .map(|s| format!("{{{}}}", s.item.join(",")))
                .unwrap_or_default(),
            ValueType::Unknown => String::new(),
        }
    }
}

/// `Parameter`: a key/value pair (docker parameters, URL query).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

/// `Parameters`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Parameters {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parameter: Vec<Parameter>,
}

wire_enum! {
    /// `Environment.Variable.Type`.
    pub enum EnvVarType {
        Value = "VALUE",
        Secret = "SECRET",
    }
    unknown = "UNKNOWN";
    default = Value;
}

/// `Environment.Variable`. Secrets are passed through untouched.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<EnvVarType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<serde_json::Value>,
}

/// `Environment`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Environment {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub variables: Vec<EnvironmentVariable>,
}

impl Environment {
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Environment {
            variables: pairs
                .into_iter()
                .map(|(k, v)| EnvironmentVariable {
                    name: k.into(),
                    type_: Some(EnvVarType::Value),
                    value: Some(v.into()),
                    secret: None,
                })
                .collect(),
        }
    }

    /// The plain (non-secret) value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.value.as_deref())
    }
}

/// `Address`: where something listens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(with = "crate::num::one")]
    pub port: i32,
}

/// `URL`, as in `Offer.url` (the agent's endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Url {
    pub scheme: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub query: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
}

/// `DomainInfo.FaultDomain.{RegionInfo,ZoneInfo}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DomainName {
    pub name: String,
}

/// `DomainInfo.FaultDomain`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FaultDomain {
    pub region: DomainName,
    pub zone: DomainName,
}

/// `DomainInfo`: the fault domain of an agent or master.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DomainInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_domain: Option<FaultDomain>,
}
