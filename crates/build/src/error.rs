use berth_types::ErrorKind;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A Dockerfile that cannot be parsed. `line` is 1-based; 0 when the
    /// problem is the file as a whole (no stages, no instructions).
    #[error("{}", located(file, *line, message))]
    Parse {
        file: String,
        line: usize,
        /// The instruction keyword (upper case) when the error is about one.
        instruction: Option<String>,
        message: String,
    },

    /// A variable substitution that failed (`${X:?msg}`, bad syntax).
    #[error("{0}")]
    Substitution(String),

    #[error("target stage {0:?} could not be found")]
    TargetNotFound(String),

    /// A stage graph that cannot be built: cycles, references to later stages.
    #[error("{0}")]
    StageGraph(String),

    #[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
    IgnorePattern { pattern: String, reason: String },
}

fn located(file: &str, line: usize, message: &str) -> String {
    if line == 0 {
        format!("{file}: {message}")
    } else {
        format!("{file}:{line}: {message}")
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::TargetNotFound(_) => ErrorKind::NotFound,
            Error::Parse { .. } | Error::Substitution(_) | Error::StageGraph(_) | Error::IgnorePattern { .. } => {
                ErrorKind::InvalidArgument
            }
        }
    }

    /// The 1-based line of a parse error.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Parse { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }
}
