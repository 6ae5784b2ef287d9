//! Background jobs: their kinds, states and counts.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Add,
    Replace,
}

/// `receiving` is internal: the upload is still being stored and no worker
/// may take the job. The rest are what clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Receiving,
    Queued,
    Validating,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// What a job add does with invalid records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Any invalid record fails the whole job; nothing is applied.
    #[default]
    Reject,
    /// Invalid records are reported and skipped; the valid ones are applied.
    Skip,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(JobKind { Add => "add", Replace => "replace" });
text_enum!(OnError { Reject => "reject", Skip => "skip" });
text_enum!(JobStatus {
    Receiving => "receiving",
    Queued => "queued",
    Validating => "validating",
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub total: u64,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub failed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [JobStatus::Receiving, JobStatus::Queued, JobStatus::Running, JobStatus::Cancelled] {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OnError::parse("skip"), Some(OnError::Skip));
        assert_eq!(JobKind::parse("upsert"), None);
        assert!(JobStatus::Failed.is_finished() && !JobStatus::Queued.is_finished());
    }
}
