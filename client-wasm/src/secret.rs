//! Newtypes for secret bytes: wiped on drop, compared in constant time, never printed.

/// Declares a fixed-size secret newtype with `Zeroize`, `ZeroizeOnDrop`, a redacted `Debug` and constant-time equality.
macro_rules! secret_bytes {
    ($(#[$meta:meta])* $vis:vis $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
        $vis struct $name([u8; $len]);

        #[allow(dead_code, unreachable_pub)]
        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps bytes that are already secret.
            pub(crate) fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The secret bytes, for the one computation that needs them.
            pub(crate) fn expose(&self) -> &[u8; $len] {
                &self.0
            }

            /// A copy for the rare place that must hold the same secret twice; each copy is wiped on its own drop.
            pub(crate) fn duplicate(&self) -> Self {
                Self(self.0)
            }
        }

        impl subtle::ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                subtle::ConstantTimeEq::ct_eq(self, other).into()
            }
        }

        impl Eq for $name {}

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(redacted)"))
            }
        }
    };
}

pub(crate) use secret_bytes;
