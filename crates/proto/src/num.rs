//! Lenient number codecs for Mesos JSON.
//!
//! Mesos writes 64-bit integers as plain JSON numbers, but its parser also
//! accepts numeric strings (proto3-style clients send them), and a double may
//! arrive as the strings `"Infinity"`, `"-Infinity"` or `"NaN"`. Plain serde
//! rejects all of those, so every numeric field in this crate goes through
//! one of two codecs:
//!
//! * [`one`] for a plain field: `#[serde(with = "crate::num::one")]`;
//! * [`opt`] for an optional field, where `null` and absence both mean unset:
//!   `#[serde(default, skip_serializing_if = "Option::is_none", with = "crate::num::opt")]`.
//!
//! Both are generic over [`Number`], implemented for the integer widths the
//! protocol uses and `f64`. Non-finite doubles are written as the strings the
//! Mesos parser understands, because JSON has no literal for them and
//! serde_json would otherwise write `null`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A numeric type the lenient codecs can read and write.
pub trait Number: Copy + Sized {
    /// Used in error messages.
    const KIND: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
    fn from_text(v: &str) -> Option<Self>;
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error>;
}

macro_rules! integer {
    ($t:ty, $write:ident, $as:ty) => {
        impl Number for $t {
            const KIND: &'static str = stringify!($t);
            fn from_i64(v: i64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_u64(v: u64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_f64(v: f64) -> Option<Self> {
                // An integral double such as `5050.0` is accepted, anything
                // with a fraction or out of range is not.
                if v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 {
                    Some(v as $t)
                } else {
                    None
                }
            }
            fn from_text(v: &str) -> Option<Self> {
                let v = v.trim();
                v.parse::<$t>()
                    .ok()
                    .or_else(|| v.parse::<f64>().ok().and_then(Self::from_f64))
            }
            fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
                s.$write(self as $as)
            }
        }
    };
}

integer!(i32, serialize_i32, i32);
integer!(u32, serialize_u32, u32);
integer!(i64, serialize_i64, i64);
integer!(u64, serialize_u64, u64);

impl Number for f64 {
    const KIND: &'static str = "double";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
    fn from_text(v: &str) -> Option<Self> {
        match v.trim() {
            "Infinity" | "inf" | "+Infinity" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            other => other.parse::<f64>().ok(),
        }
    }
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_nan() {
            s.serialize_str("NaN")
        } else if self == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if self == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(self)
        }
    }
}

/// Deserialises one [`Number`] from a JSON number or numeric string.
struct Lenient<T>(T);

impl<'de, T: Number> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: Number> Visitor<'_> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} as a JSON number or numeric string", T::KIND)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::from_i64(v)
                    .map(Lenient)
                    .ok_or_else(|| E::custom(format!("{v} is out of range for {}", T::KIND)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::from_u64(v)
                    .map(Lenient)
                    .ok_or_else(|| E::custom(format!("{v} is out of range for {}", T::KIND)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                T::from_f64(v)
                    .map(Lenient)
                    .ok_or_else(|| E::custom(format!("{v} is not a valid {}", T::KIND)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::from_text(v)
                    .map(Lenient)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a valid {}", T::KIND)))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Codec for a plain (required or defaulted) numeric field.
pub mod one {
    use super::{Lenient, Number};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Number, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.write(s)
    }

    pub fn deserialize<'de, T: Number, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        Lenient::<T>::deserialize(d).map(|n| n.0)
    }
}

/// Codec for an optional numeric field; `null` means unset.
pub mod opt {
    use super::{Lenient, Number};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Number, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => n.write(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Number, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        Option::<Lenient<T>>::deserialize(d).map(|o| o.map(|n| n.0))
    }
}

/// Codec for a repeated numeric field (`HealthCheck.HTTPCheckInfo.statuses`).
pub mod many {
    use super::{Lenient, Number};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Number, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        struct One<T>(T);
        impl<T: Number> serde::Serialize for One<T> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.write(s)
            }
        }
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for n in v {
            seq.serialize_element(&One(*n))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, T: Number, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        let items = Option::<Vec<Lenient<T>>>::deserialize(d)?;
        Ok(items.unwrap_or_default().into_iter().map(|n| n.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "super::one")]
        big: u64,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "super::opt")]
        maybe: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "super::many")]
        list: Vec<i32>,
    }

    #[test]
    fn u64_beyond_f64_precision_survives_as_a_number_and_as_a_string() {
        let from_number: Sample = serde_json::from_value(json!({"big": u64::MAX})).expect("ok");
        let from_string: Sample =
            serde_json::from_value(json!({"big": u64::MAX.to_string()})).expect("ok");
        assert_eq!(from_number.big, u64::MAX);
        assert_eq!(from_string.big, u64::MAX);
        assert_eq!(
            serde_json::to_value(&from_number).expect("ok"),
            json!({"big": u64::MAX})
        );
    }

    #[test]
    fn optional_numbers_treat_null_and_absence_as_unset() {
        let absent: Sample = serde_json::from_value(json!({"big": 1})).expect("ok");
        let null: Sample =
            serde_json::from_value(json!({"big": 1, "maybe": null, "list": null})).expect("ok");
        assert_eq!(absent, null);
        assert_eq!(absent.maybe, None);
        assert!(absent.list.is_empty());
    }

    #[test]
    fn nan_and_infinities_are_written_as_the_strings_mesos_reads() {
        for (value, text) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            let s = Sample {
                big: 0,
                maybe: Some(value),
                list: vec![],
            };
            let written = serde_json::to_value(&s).expect("ok");
            assert_eq!(written["maybe"], json!(text));
            let back: Sample = serde_json::from_value(written).expect("ok");
            let read = back.maybe.expect("set");
            assert!(read.to_bits() == value.to_bits() || (read.is_nan() && value.is_nan()));
        }
    }

    #[test]
    fn integral_doubles_are_accepted_for_integer_fields_but_fractions_are_not() {
        let s: Sample =
            serde_json::from_value(json!({"big": 5050.0, "list": [1.0, "2"]})).expect("ok");
        assert_eq!((s.big, s.list), (5050, vec![1, 2]));
        assert!(serde_json::from_value::<Sample>(json!({"big": 0.5})).is_err());
        assert!(serde_json::from_value::<Sample>(json!({"big": true})).is_err());
    }
}
