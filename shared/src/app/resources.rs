//! Every name the code reads from the environment, declared once, with which function reads it.
//! `template.yaml` must give each function exactly these variables: a test in `tests/` reads the
//! template and fails on a variable the code does not read or one the code needs and is not given.

/// `WHATSAPP_APP_SECRET`.
pub const APP_SECRET: &str = "WHATSAPP_APP_SECRET";
/// `WHATSAPP_WEBHOOK_VERIFY_TOKEN`.
pub const VERIFY_TOKEN: &str = "WHATSAPP_WEBHOOK_VERIFY_TOKEN";
/// `WHATSAPP_ACCESS_TOKEN`.
pub const ACCESS_TOKEN: &str = "WHATSAPP_ACCESS_TOKEN";
/// `WHATSAPP_PHONE_NUMBER_ID`.
pub const PHONE_NUMBER_ID: &str = "WHATSAPP_PHONE_NUMBER_ID";
/// `WHATSAPP_BUSINESS_ACCOUNT_ID`.
pub const BUSINESS_ACCOUNT_ID: &str = "WHATSAPP_BUSINESS_ACCOUNT_ID";
/// `WHATSAPP_API_VERSION`.
pub const API_VERSION: &str = "WHATSAPP_API_VERSION";
/// `WABRIDGE_API_KEYS`.
pub const API_KEYS: &str = "WABRIDGE_API_KEYS";
/// `WABRIDGE_MAX_RECEIVES`.
pub const MAX_RECEIVES: &str = "WABRIDGE_MAX_RECEIVES";
/// `WABRIDGE_RECHECK_SECONDS`.
pub const RECHECK_SECONDS: &str = "WABRIDGE_RECHECK_SECONDS";
/// `WABRIDGE_THROUGHPUT_MPS`.
pub const THROUGHPUT_MPS: &str = "WABRIDGE_THROUGHPUT_MPS";
/// `WABRIDGE_OPT_OUT_KEYWORDS`.
pub const OPT_OUT_KEYWORDS: &str = "WABRIDGE_OPT_OUT_KEYWORDS";
/// `WABRIDGE_OPT_IN_KEYWORDS`.
pub const OPT_IN_KEYWORDS: &str = "WABRIDGE_OPT_IN_KEYWORDS";
/// `WABRIDGE_MEDIA_MAX_BYTES`.
pub const MEDIA_MAX_BYTES: &str = "WABRIDGE_MEDIA_MAX_BYTES";
/// `WABRIDGE_MEDIA_URL_TTL_S`.
pub const MEDIA_URL_TTL_S: &str = "WABRIDGE_MEDIA_URL_TTL_S";
/// `WABRIDGE_CALLBACK_URL`: where signed event callbacks go.
pub const CALLBACK_URL: &str = "WABRIDGE_CALLBACK_URL";
/// `WABRIDGE_CALLBACK_SECRET`: signs them.
pub const CALLBACK_SECRET: &str = "WABRIDGE_CALLBACK_SECRET";
/// `WABRIDGE_SANDBOX`: the local stack only; no Lambda function reads it.
pub const SANDBOX: &str = "WABRIDGE_SANDBOX";
/// `WHATSAPP_APP_SECRET_ARN` (Lambda): the Secrets Manager secret holding [`APP_SECRET`].
pub const APP_SECRET_ARN: &str = "WHATSAPP_APP_SECRET_ARN";
/// `WHATSAPP_WEBHOOK_VERIFY_TOKEN_ARN` (Lambda): the secret holding [`VERIFY_TOKEN`].
pub const VERIFY_TOKEN_ARN: &str = "WHATSAPP_WEBHOOK_VERIFY_TOKEN_ARN";
/// `WHATSAPP_ACCESS_TOKEN_ARN` (Lambda): the secret holding [`ACCESS_TOKEN`].
pub const ACCESS_TOKEN_ARN: &str = "WHATSAPP_ACCESS_TOKEN_ARN";
/// `WABRIDGE_API_KEYS_ARN` (Lambda): the secret holding [`API_KEYS`].
pub const API_KEYS_ARN: &str = "WABRIDGE_API_KEYS_ARN";
/// `WABRIDGE_CALLBACK_SECRET_ARN` (Lambda): the secret holding [`CALLBACK_SECRET`].
pub const CALLBACK_SECRET_ARN: &str = "WABRIDGE_CALLBACK_SECRET_ARN";

/// Each secret setting and the variable that names its Secrets Manager secret. On Lambda the value
/// never sits in the function's environment (readable by anyone who may read the function's
/// configuration); the function is given the secret's ARN, reads the value once at cold start, and
/// its role may read only the secrets it is given. The local stack reads the plain variables.
pub const SECRETS: &[(&str, &str)] = &[
    (APP_SECRET, APP_SECRET_ARN),
    (VERIFY_TOKEN, VERIFY_TOKEN_ARN),
    (ACCESS_TOKEN, ACCESS_TOKEN_ARN),
    (API_KEYS, API_KEYS_ARN),
    (CALLBACK_SECRET, CALLBACK_SECRET_ARN),
];

/// `RUST_LOG`: every function's log filter.
pub const LOG_LEVEL: &str = "RUST_LOG";

/// `WABRIDGE_MESSAGES_TABLE`.
pub const MESSAGES_TABLE: &str = "WABRIDGE_MESSAGES_TABLE";
/// `WABRIDGE_STATUSES_TABLE`.
pub const STATUSES_TABLE: &str = "WABRIDGE_STATUSES_TABLE";
/// `WABRIDGE_CONVERSATIONS_TABLE`.
pub const CONVERSATIONS_TABLE: &str = "WABRIDGE_CONVERSATIONS_TABLE";
/// `WABRIDGE_CONTACTS_TABLE`.
pub const CONTACTS_TABLE: &str = "WABRIDGE_CONTACTS_TABLE";
/// `WABRIDGE_EVENTS_TABLE`.
pub const EVENTS_TABLE: &str = "WABRIDGE_EVENTS_TABLE";
/// `WABRIDGE_IDEMPOTENCY_TABLE`.
pub const IDEMPOTENCY_TABLE: &str = "WABRIDGE_IDEMPOTENCY_TABLE";
/// `WABRIDGE_MEDIA_TABLE`.
pub const MEDIA_TABLE: &str = "WABRIDGE_MEDIA_TABLE";
/// `WABRIDGE_TEMPLATES_TABLE`.
pub const TEMPLATES_TABLE: &str = "WABRIDGE_TEMPLATES_TABLE";
/// `WABRIDGE_COUNTERS_TABLE`.
pub const COUNTERS_TABLE: &str = "WABRIDGE_COUNTERS_TABLE";
/// `WABRIDGE_SCHEDULES_TABLE`.
pub const SCHEDULES_TABLE: &str = "WABRIDGE_SCHEDULES_TABLE";
/// `WABRIDGE_RECIPIENTS_TABLE`.
pub const RECIPIENTS_TABLE: &str = "WABRIDGE_RECIPIENTS_TABLE";
/// `WABRIDGE_AUTOMATION_TABLE`.
pub const AUTOMATION_TABLE: &str = "WABRIDGE_AUTOMATION_TABLE";
/// `WABRIDGE_RATE_LIMITS_TABLE`.
pub const RATE_LIMITS_TABLE: &str = "WABRIDGE_RATE_LIMITS_TABLE";
/// `WABRIDGE_INBOUND_QUEUE_URL`.
pub const INBOUND_QUEUE_URL: &str = "WABRIDGE_INBOUND_QUEUE_URL";
/// `WABRIDGE_INBOUND_DLQ_URL`.
pub const INBOUND_DLQ_URL: &str = "WABRIDGE_INBOUND_DLQ_URL";
/// `WABRIDGE_OUTBOUND_QUEUE_URL`.
pub const OUTBOUND_QUEUE_URL: &str = "WABRIDGE_OUTBOUND_QUEUE_URL";
/// `WABRIDGE_OUTBOUND_DLQ_URL`.
pub const OUTBOUND_DLQ_URL: &str = "WABRIDGE_OUTBOUND_DLQ_URL";
/// `WABRIDGE_MEDIA_QUEUE_URL`.
pub const MEDIA_QUEUE_URL: &str = "WABRIDGE_MEDIA_QUEUE_URL";
/// `WABRIDGE_MEDIA_DLQ_URL`.
pub const MEDIA_DLQ_URL: &str = "WABRIDGE_MEDIA_DLQ_URL";
/// `WABRIDGE_CALLBACK_QUEUE_URL`.
pub const CALLBACK_QUEUE_URL: &str = "WABRIDGE_CALLBACK_QUEUE_URL";
/// `WABRIDGE_CALLBACK_DLQ_URL`.
pub const CALLBACK_DLQ_URL: &str = "WABRIDGE_CALLBACK_DLQ_URL";
/// `WABRIDGE_BUCKET`.
pub const BUCKET: &str = "WABRIDGE_BUCKET";

/// The tables behind the store roles: a function that builds the store reads them all.
pub const STORE_TABLES: &[&str] = &[
    MESSAGES_TABLE,
    STATUSES_TABLE,
    CONVERSATIONS_TABLE,
    CONTACTS_TABLE,
    EVENTS_TABLE,
    IDEMPOTENCY_TABLE,
    MEDIA_TABLE,
    TEMPLATES_TABLE,
    COUNTERS_TABLE,
    SCHEDULES_TABLE,
    RECIPIENTS_TABLE,
    AUTOMATION_TABLE,
];

/// One Lambda function and the variables it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// The binary name (`BuildProperties.Binary` in `template.yaml`).
    pub name: &'static str,
    /// Whether it builds the store, and so reads every one of [`STORE_TABLES`].
    pub store: bool,
    /// The other resource names and settings it reads ([`LOG_LEVEL`] is read by every function).
    pub env: &'static [&'static str],
}

/// `GET /webhook`.
pub const WEBHOOK_VERIFY: Function = Function {
    name: "webhook-verify",
    store: false,
    env: &[VERIFY_TOKEN_ARN],
};
/// `POST /webhook` onto the inbound queue.
pub const WEBHOOK_INGEST: Function = Function {
    name: "webhook-ingest",
    store: false,
    env: &[APP_SECRET_ARN, INBOUND_QUEUE_URL, BUCKET],
};
/// The inbound queue consumer.
pub const INBOUND_PROCESSOR: Function = Function {
    name: "inbound-processor",
    store: true,
    env: &[
        MAX_RECEIVES,
        INBOUND_QUEUE_URL,
        INBOUND_DLQ_URL,
        BUCKET,
        MEDIA_QUEUE_URL,
        OUTBOUND_QUEUE_URL,
        OPT_OUT_KEYWORDS,
        OPT_IN_KEYWORDS,
        CALLBACK_URL,
        CALLBACK_QUEUE_URL,
        BUSINESS_ACCOUNT_ID,
    ],
};
/// `/v1/...` reads (media URLs among them) and `/health`.
pub const QUERY_API: Function = Function {
    name: "query-api",
    store: true,
    env: &[API_KEYS_ARN, BUCKET, MEDIA_URL_TTL_S],
};
/// `POST /v1/messages`, read receipts and `POST /v1/media`.
pub const SEND_API: Function = Function {
    name: "send-api",
    store: true,
    env: &[
        API_KEYS_ARN,
        ACCESS_TOKEN_ARN,
        PHONE_NUMBER_ID,
        BUSINESS_ACCOUNT_ID,
        API_VERSION,
        OUTBOUND_QUEUE_URL,
        BUCKET,
    ],
};
/// `/v1/templates`: the templates copy, and create, delete and sync at Meta.
pub const TEMPLATES_API: Function = Function {
    name: "templates-api",
    store: true,
    env: &[API_KEYS_ARN, ACCESS_TOKEN_ARN, BUSINESS_ACCOUNT_ID, API_VERSION],
};
/// `GET /v1/analytics`: reports from the counters.
pub const ANALYTICS_API: Function = Function {
    name: "analytics-api",
    store: true,
    env: &[API_KEYS_ARN],
};
/// `/v1/contacts`: the contacts the business keeps.
pub const CONTACTS_API: Function = Function {
    name: "contacts-api",
    store: true,
    env: &[API_KEYS_ARN],
};
/// `/v1/rules`: keyword rules.
pub const AUTOMATION_API: Function = Function {
    name: "automation-api",
    store: true,
    env: &[API_KEYS_ARN],
};
/// `/v1/reminders`: scheduled work to create, read, move and cancel.
pub const SCHEDULE_API: Function = Function {
    name: "schedule-api",
    store: true,
    env: &[API_KEYS_ARN, BUSINESS_ACCOUNT_ID],
};
/// The outbound queue consumer that calls Graph.
pub const OUTBOUND_SENDER: Function = Function {
    name: "outbound-sender",
    store: true,
    env: &[
        ACCESS_TOKEN_ARN,
        API_VERSION,
        THROUGHPUT_MPS,
        RECHECK_SECONDS,
        RATE_LIMITS_TABLE,
        OUTBOUND_QUEUE_URL,
        INBOUND_QUEUE_URL,
        OUTBOUND_DLQ_URL,
    ],
};

/// The media queue consumer: copies inbound media from Meta into the bucket.
pub const MEDIA_DOWNLOADER: Function = Function {
    name: "media-downloader",
    store: true,
    env: &[
        ACCESS_TOKEN_ARN,
        API_VERSION,
        BUCKET,
        MEDIA_MAX_BYTES,
        MEDIA_QUEUE_URL,
        MEDIA_DLQ_URL,
    ],
};

/// The callbacks queue consumer: posts signed events to the integration.
pub const CALLBACK_SENDER: Function = Function {
    name: "callback-sender",
    store: false,
    env: &[CALLBACK_URL, CALLBACK_SECRET_ARN, CALLBACK_QUEUE_URL, CALLBACK_DLQ_URL],
};

/// Scheduled work (EventBridge Scheduler, every minute): reminders' and sequences' due sends, the
/// sweep of stranded outbound messages; every hour, the template sync.
pub const SCHEDULER: Function = Function {
    name: "scheduler",
    store: true,
    env: &[
        OUTBOUND_QUEUE_URL,
        PHONE_NUMBER_ID,
        BUSINESS_ACCOUNT_ID,
        ACCESS_TOKEN_ARN,
        API_VERSION,
    ],
};

/// Every function.
pub const FUNCTIONS: &[Function] = &[
    WEBHOOK_VERIFY,
    WEBHOOK_INGEST,
    INBOUND_PROCESSOR,
    QUERY_API,
    SEND_API,
    TEMPLATES_API,
    ANALYTICS_API,
    CONTACTS_API,
    AUTOMATION_API,
    SCHEDULE_API,
    OUTBOUND_SENDER,
    MEDIA_DOWNLOADER,
    CALLBACK_SENDER,
    SCHEDULER,
];

impl Function {
    /// Every variable this function reads.
    pub fn reads(&self) -> impl Iterator<Item = &'static str> {
        let tables = if self.store { STORE_TABLES } else { &[] };
        std::iter::once(LOG_LEVEL)
            .chain(tables.iter().copied())
            .chain(self.env.iter().copied())
    }

    /// Whether this function reads `name`.
    pub fn reads_var(&self, name: &str) -> bool {
        self.reads().any(|v| v == name)
    }

    /// A variable this function reads, from the environment; an error naming it if it is not
    /// declared for this function (a bug) or not set (a deployment fault).
    pub fn var(&self, name: &'static str) -> Result<String, crate::config::ConfigError> {
        if !self.reads_var(name) {
            return Err(crate::config::ConfigError {
                var: name,
                reason: format!("is not declared for {} in app::resources", self.name),
            });
        }
        crate::config::required_var(name)
    }
}
