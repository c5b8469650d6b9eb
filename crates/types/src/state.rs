//! A container's state, as Docker names it, and what each state allows (youki's guards).

use std::fmt;
use std::str::FromStr;

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// Made, never started (or its first start failed).
    #[default]
    Created,
    Running,
    Paused,
    /// Between two runs of its restart policy.
    Restarting,
    /// Being removed (a removal killed half-way leaves it so, for the next command to finish).
    Removing,
    Exited,
    /// A record berth cannot read the state of.
    Dead,
}

impl ContainerState {
    pub const ALL: [ContainerState; 7] = [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Paused,
        ContainerState::Restarting,
        ContainerState::Removing,
        ContainerState::Exited,
        ContainerState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
        }
    }

    /// Whether the container has a run under way: processes (perhaps frozen), or a restart due.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        )
    }

    /// Whether processes can be run in it or signalled now.
    pub fn is_live(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused)
    }

    pub fn can_exec(self) -> bool {
        self == ContainerState::Running
    }

    pub fn can_pause(self) -> bool {
        self == ContainerState::Running
    }

    pub fn can_unpause(self) -> bool {
        self == ContainerState::Paused
    }

    /// Whether a removal without force may take it.
    pub fn can_remove(self) -> bool {
        !self.is_running()
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name berth does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown container state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for ContainerState {
    type Err = UnknownState;
    fn from_str(text: &str) -> Result<Self, UnknownState> {
        ContainerState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownState(text.to_string()))
    }
}

impl serde::Serialize for ContainerState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ContainerState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_guards_follow_docker() {
        for state in ContainerState::ALL {
            assert_eq!(state.as_str().parse::<ContainerState>(), Ok(state));
        }
        assert!("zombie".parse::<ContainerState>().is_err());
        use ContainerState::*;
        let running: Vec<_> = ContainerState::ALL.into_iter().filter(|s| s.is_running()).collect();
        assert_eq!(running, [Running, Paused, Restarting]);
        assert!(Running.can_exec() && !Paused.can_exec() && !Exited.can_exec());
        assert!(Running.can_pause() && !Paused.can_pause() && Paused.can_unpause());
        assert!(Exited.can_remove() && Created.can_remove() && !Restarting.can_remove());
        assert_eq!(serde_json::to_string(&Paused).unwrap(), "\"paused\"");
    }
}
