//! The recipients role of the store: a campaign's audience, resolved once when it starts, one
//! entry per customer, walked in number order by the scheduler.

use async_trait::async_trait;

use super::PortError;

/// One customer of a campaign's audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecipient {
    /// The customer's wa_id: unique within the campaign, and the order the campaign sends in.
    pub wa_id: String,
    /// Why it is not sent to (`opted_out`), decided when the audience was resolved.
    pub skipped: Option<String>,
    /// Why its send was refused when its turn came (it then has no message).
    pub failed: Option<String>,
}

/// Campaign audiences. Writing a recipient again replaces it, so resolving an audience a second
/// time (after a crash mid-way) leaves one entry per customer.
#[async_trait]
pub trait Recipients: Send + Sync + 'static {
    /// Stores `recipients` of `campaign` (any number; written in the store's batch size).
    async fn put_recipients(&self, campaign: &str, recipients: &[CampaignRecipient]) -> Result<(), PortError>;

    /// Up to `limit` recipients of `campaign` after the wa_id `after` (from the first when
    /// `None`), in wa_id order.
    async fn recipients(
        &self,
        campaign: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CampaignRecipient>, PortError>;
}
