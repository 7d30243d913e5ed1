//! What an invocation of the scheduler function asks for. EventBridge sends the minute's tick with
//! no `job`; the hourly template sync and an operator's analytics rebuild name theirs. A job name
//! nothing knows is refused, not run as a tick.

use serde_json::Value;

/// One scheduler invocation's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Reminders' and sequences' due sends, then the sweep of stranded outbound messages.
    Tick,
    /// `{"job":"template-sync"}`: pull the WABA's templates from Meta.
    TemplateSync,
    /// `{"job":"analytics-rebuild"}`: recount the analytics from the stored messages.
    AnalyticsRebuild,
}

/// A `job` the scheduler does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler job {0:?}: send no job for the tick, or template-sync or analytics-rebuild")]
pub struct UnknownJob(pub String);

impl Job {
    /// The job an event names (none: the tick).
    pub fn of(event: &Value) -> Result<Self, UnknownJob> {
        match event.get("job") {
            None | Some(Value::Null) => Ok(Self::Tick),
            Some(job) => match job.as_str() {
                Some("template-sync") => Ok(Self::TemplateSync),
                Some("analytics-rebuild") => Ok(Self::AnalyticsRebuild),
                _ => Err(UnknownJob(job.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_name_their_job_and_a_misspelt_one_is_refused() {
        assert_eq!(Job::of(&json!({})), Ok(Job::Tick), "EventBridge's minute sends no job");
        assert_eq!(Job::of(&json!({"job": "template-sync"})), Ok(Job::TemplateSync));
        assert_eq!(Job::of(&json!({"job": "analytics-rebuild"})), Ok(Job::AnalyticsRebuild));
        assert!(Job::of(&json!({"job": "analytics-rebild"})).is_err());
    }
}
