//! Deployment profiles, which pick a brick's built-in defaults.

use std::fmt;
use std::str::FromStr;

use crate::error::InputSource;

/// A deployment profile (`NEXUS_PROFILE` or `--profile`), default [`Profile::Full`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// The smallest footprint.
    Minimal,
    /// Devices with little memory.
    Embedded,
    /// A single small host.
    Lite,
    /// Everything on one host (the default).
    #[default]
    Full,
    /// A multi-node deployment.
    Cloud,
}

impl Profile {
    /// Every profile, in declaration order.
    pub const ALL: [Profile; 5] = [
        Profile::Minimal,
        Profile::Embedded,
        Profile::Lite,
        Profile::Full,
        Profile::Cloud,
    ];

    /// The name users write.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Minimal => "minimal",
            Profile::Embedded => "embedded",
            Profile::Lite => "lite",
            Profile::Full => "full",
            Profile::Cloud => "cloud",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the five profile names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown profile `{}`{}: expected one of minimal, embedded, lite, full, cloud",
    crate::shown::quoted_input(value),
    GivenBy(from)
)]
pub struct UnknownProfile {
    /// The rejected text.
    pub value: String,
    /// Where a load was given it (`None` for a plain parse).
    pub from: Option<InputSource>,
}

/// " from `--profile`", or nothing when the source is not known.
struct GivenBy<'a>(&'a Option<InputSource>);

impl std::fmt::Display for GivenBy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(from) => write!(f, " from `{from}`"),
            None => Ok(()),
        }
    }
}

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile {
                value: s.to_owned(),
                from: None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_rejected() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>(), Ok(p));
        }
        assert!("Full".parse::<Profile>().is_err());
        assert!("".parse::<Profile>().is_err());
        assert_eq!(Profile::default(), Profile::Full);
    }
}
