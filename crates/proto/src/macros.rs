//! Declarative helpers for the two shapes that repeat across the protocol:
//! string-valued enums and `{"value": "..."}` ID wrappers.

/// A Mesos enum written as the string of its value name.
///
/// Every enum gets an `Unknown` variant. Deserialising a name this crate does
/// not know yields `Unknown` instead of failing, because a newer master may
/// send values we have never heard of and Mesos itself drops such values
/// rather than rejecting the message. `Unknown` serialises as the enum's own
/// "unknown" wire name (`UNKNOWN`, `TASK_UNKNOWN`, ...).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )*
        }
        unknown = $unknown:literal;
        default = $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value name this crate does not know, or the protocol's own
            /// unknown value.
            Unknown,
        }

        impl $name {
            /// Every known variant (without `Unknown`), in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The wire name, e.g. `"TASK_RUNNING"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Unknown => $unknown,
                }
            }

            /// Parses a wire name; names this crate does not know map to `Unknown`.
            pub fn from_wire(name: &str) -> Self {
                match name {
                    $( $wire => $name::$variant, )*
                    _ => $name::Unknown,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "a {} value name", stringify!($name))
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from_wire(v))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

/// A wrapped Mesos ID: `{"value": "..."}`.
macro_rules! wire_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        pub struct $name {
            pub value: String,
        }

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name { value: value.into() }
            }

            pub fn as_str(&self) -> &str {
                &self.value
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name::new(value)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name::new(value)
            }
        }
    };
}
