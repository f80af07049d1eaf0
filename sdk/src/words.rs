//! Counts in words for what people read: `1 signal`, `3 signals`, never `signal(s)`.
//!
//! The CLI, the demo and the SDK's own messages say how many of something there are; English
//! plurals are irregular enough (`entry`/`entries`) that each call names both forms.

/// `n` with the noun in the form that fits: `counted(1u32, "entry", "entries")` is `1 entry`,
/// `counted(0u32, "entry", "entries")` is `0 entries`.
///
/// ```
/// use kruispunt_sdk::words::counted;
/// assert_eq!(counted(1u32, "signal", "signals"), "1 signal");
/// assert_eq!(counted(2usize, "entry", "entries"), "2 entries");
/// ```
pub fn counted(n: impl Count, one: &str, many: &str) -> String {
    let n = n.count();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A whole number of things ([`counted`] takes the integer types counts come in).
pub trait Count {
    /// The number, widened.
    fn count(self) -> u64;
}

macro_rules! count {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn count(self) -> u64 {
                self as u64
            }
        }
    )*};
}
count!(u8, u16, u32, u64, usize);
