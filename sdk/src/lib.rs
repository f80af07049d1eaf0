//! What Kruispunt partners link: normalisation of Dutch identifiers, the public pseudonym
//! construction, the wire types (the API's JSON, the bearer token's claims), and (feature
//! `client`) the HTTPS client of the broker API.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod beeld;
pub mod cases;
pub mod civil;
#[cfg(feature = "client")]
pub mod client;
pub mod coalition;
pub mod identifiers;
pub mod prehashed;
pub mod pseudonym;
pub mod registry;
pub mod token;
pub mod transparency;
pub mod wire;
pub mod words;

pub use identifiers::{IdentifierError, IdentifierKind};
pub use pseudonym::{CoalitionKey, Pseudonym, Pseudonymiser};

/// Defines `as_str` (each variant's wire name, as serde writes it) and `Display` (that name)
/// for a fieldless enum, so that the name table of each of the workspace's string enums
/// (identifier kinds, audit operations, disclosure levels, policy actions) is written once and
/// the two cannot disagree. The doc comments before the type name document `as_str`.
///
/// ```
/// #[derive(Clone, Copy)]
/// enum Colour { Red, Blue }
/// kruispunt_sdk::wire_names! {
///     /// The colour's name.
///     Colour { Red => "red", Blue => "blue" }
/// }
/// assert_eq!(Colour::Blue.as_str(), "blue");
/// assert_eq!(Colour::Red.to_string(), "red");
/// ```
#[macro_export]
macro_rules! wire_names {
    ($(#[$doc:meta])* $ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in the order the wire names are listed.
            pub const ALL: [$ty; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            $(#[$doc])*
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
