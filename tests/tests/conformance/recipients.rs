//! The recipients role: a campaign's audience comes back once per customer, in number order,
//! page after page, and writing an entry again replaces it.

use super::*;
use wabridge::ports::CampaignRecipient;

fn r(wa_id: &str) -> CampaignRecipient {
    CampaignRecipient {
        wa_id: wa_id.to_owned(),
        skipped: None,
        failed: None,
    }
}

/// Every recipient of `campaign`, walking pages of `step`.
async fn all(b: &Backend, campaign: &str, step: u32) -> Vec<CampaignRecipient> {
    let mut out: Vec<CampaignRecipient> = Vec::new();
    loop {
        let after = out.last().map(|r| r.wa_id.clone());
        let page = b.store.recipients(campaign, after.as_deref(), step).await.unwrap();
        let done = (page.len() as u32) < step;
        out.extend(page);
        if done {
            return out;
        }
    }
}

async fn an_audience_comes_back_once_each_in_number_order(b: Backend) {
    // More than one write batch (DynamoDB takes 25), given out of order.
    let mut audience: Vec<CampaignRecipient> = (0..60).rev().map(|i| r(&format!("2782{i:07}"))).collect();
    audience[10].skipped = Some("opted_out".into());
    b.store.put_recipients("cmp_a", &audience).await.unwrap();
    b.store.put_recipients("cmp_b", &[r("27820000001")]).await.unwrap();
    let got = all(&b, "cmp_a", 7).await;
    let numbers: Vec<&str> = got.iter().map(|r| r.wa_id.as_str()).collect();
    let mut expected: Vec<String> = (0..60).map(|i| format!("2782{i:07}")).collect();
    expected.sort();
    assert_eq!(numbers, expected);
    let skipped: Vec<&CampaignRecipient> = got.iter().filter(|r| r.skipped.is_some()).collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].wa_id, audience[10].wa_id);
    assert_eq!(skipped[0].skipped.as_deref(), Some("opted_out"));
    assert_eq!(all(&b, "cmp_b", 10).await, vec![r("27820000001")], "campaigns apart");
    assert!(all(&b, "cmp_none", 10).await.is_empty());
    // After the last one: nothing.
    let last = expected.last().unwrap();
    assert!(b.store.recipients("cmp_a", Some(last), 10).await.unwrap().is_empty());
}

async fn writing_a_recipient_again_replaces_it(b: Backend) {
    b.store
        .put_recipients("cmp_c", &[r("27820000001"), r("27820000002")])
        .await
        .unwrap();
    let refused = CampaignRecipient {
        failed: Some("missing attribute first_name".into()),
        ..r("27820000002")
    };
    b.store
        .put_recipients("cmp_c", std::slice::from_ref(&refused))
        .await
        .unwrap();
    assert_eq!(all(&b, "cmp_c", 10).await, vec![r("27820000001"), refused]);
    // Resolving again (a crash before the campaign said it started) leaves one entry each.
    b.store
        .put_recipients("cmp_c", &[r("27820000001"), r("27820000002")])
        .await
        .unwrap();
    assert_eq!(all(&b, "cmp_c", 10).await.len(), 2);
}

on_both_backends!(
    an_audience_comes_back_once_each_in_number_order,
    writing_a_recipient_again_replaces_it,
);
