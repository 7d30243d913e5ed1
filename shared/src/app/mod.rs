//! The one place that wires things. [`Settings`] holds every tuning knob; [`App`] has one factory
//! per use case, each taking only the ports that use case uses, so a Lambda function builds exactly
//! what its IAM policy allows; [`Ports`] bundles every port for the places that run everything at
//! once (the local stack, the test harness), and [`App::router`] and [`App::consumers`] wire them.
//! [`resources`] declares every name the code reads from the environment.

pub mod resources;
mod settings;

use std::sync::Arc;

use axum::Router;
use secrecy::SecretString;

pub use settings::Settings;

use crate::api::idempotency::IdempotentRequests;
use crate::api::{self, ApiKeys, QueryState, SendApi};
use crate::graph::GraphClient;
use crate::inbound::ingest::Ingestor;
use crate::inbound::lag::{LagMarker, LagWatch};
use crate::inbound::process::Processor;
use crate::inbound::reactions::Reaction;
use crate::outbound::enqueue::Enqueuer;
use crate::outbound::read_receipt::ReadReceipts;
use crate::outbound::sender::Sender;
use crate::outbound::sweep::Sweeper;
use crate::ports::{Blobs, Clock, Inbox, Outbox, Queue, RateLimiter, ReadModel, Store};

/// Factories for the use cases, over the settings and the clock they share.
#[derive(Clone)]
pub struct App {
    /// Tuning knobs.
    pub settings: Settings,
    /// The time: the system clock, or a test's manual one.
    pub clock: Arc<dyn Clock>,
    reactions: Vec<Arc<dyn Reaction>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Every port, for the places that run every use case in one process.
#[derive(Clone)]
pub struct Ports {
    /// Every store role.
    pub store: Arc<dyn Store>,
    /// Webhooks waiting to be processed.
    pub inbound: Arc<dyn Queue>,
    /// Messages waiting to be sent.
    pub outbound: Arc<dyn Queue>,
    /// Large webhook bodies.
    pub blobs: Arc<dyn Blobs>,
    /// Shared rate-limit buckets.
    pub limiter: Arc<dyn RateLimiter>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// The credentials the HTTP surface checks.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Signs Meta's webhooks.
    pub app_secret: SecretString,
    /// Meta's subscription handshake.
    pub verify_token: SecretString,
    /// Bearer keys for `/v1`.
    pub api_keys: Vec<SecretString>,
}

impl App {
    /// An app with these settings and clock, and no reactions beyond the built-in ones.
    pub fn new(settings: Settings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            reactions: Vec::new(),
        }
    }

    /// What Lambda runs: [`Settings::from_config`] and the system clock.
    pub fn deployed(config: &crate::Config) -> Self {
        Self::new(Settings::from_config(config), Arc::new(crate::ports::SystemClock))
    }

    /// Registers a reaction every processor built from now on runs after the built-in ones.
    pub fn with_reaction(mut self, reaction: Arc<dyn Reaction>) -> Self {
        self.reactions.push(reaction);
        self
    }

    /// `POST /webhook`: verify and queue.
    pub fn ingestor(&self, app_secret: SecretString, queue: Arc<dyn Queue>, blobs: Arc<dyn Blobs>) -> Ingestor {
        Ingestor::new(app_secret, queue, blobs).with_max_queue_bytes(self.settings.max_queue_bytes)
    }

    /// The inbound processor with every registered reaction.
    pub fn processor(&self, inbox: Arc<dyn Inbox>, outbox: Arc<dyn Outbox>, blobs: Arc<dyn Blobs>) -> Processor {
        let marker = LagMarker::new(inbox.clone(), self.clock.clone(), self.settings.inbound_lag);
        let mut p = Processor::new(inbox, outbox, blobs, self.clock.clone())
            .with_policy(self.settings.inbound_retry)
            .with_marker(marker);
        for r in &self.reactions {
            p = p.with_reaction(r.clone());
        }
        p
    }

    /// The outbound sender.
    pub fn sender(&self, outbox: Arc<dyn Outbox>, limiter: Arc<dyn RateLimiter>, graph: GraphClient) -> Sender {
        Sender::new(outbox, graph, limiter, self.clock.clone(), self.settings.sender)
    }

    /// What the sender reads before a resend: the inbound queue's backlog and the processor's
    /// progress marks.
    pub fn lag_watch(&self, outbox: Arc<dyn Outbox>, inbound: Arc<dyn Queue>) -> LagWatch {
        LagWatch::new(inbound, outbox, self.clock.clone(), self.settings.inbound_lag)
    }

    /// The sweep that re-queues outbound messages whose queue record was lost.
    pub fn sweeper(&self, outbox: Arc<dyn Outbox>, outbound: Arc<dyn Queue>) -> Sweeper {
        Sweeper::new(outbox, outbound, self.clock.clone(), self.settings.sweep)
    }

    /// The enqueue use case every sender of messages shares.
    pub fn enqueuer(
        &self,
        outbox: Arc<dyn Outbox>,
        read: Arc<dyn ReadModel>,
        queue: Arc<dyn Queue>,
        default_phone_number_id: Option<String>,
    ) -> Enqueuer {
        Enqueuer::new(outbox, read, queue, self.clock.clone(), default_phone_number_id)
    }

    /// What the send routes need. They use every store role: sends (outbox, read model for
    /// windows), read receipts (read model, inbox for the read position), `Idempotency-Key`.
    pub fn send_api(
        &self,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        graph: GraphClient,
        default_phone_number_id: Option<String>,
    ) -> SendApi {
        SendApi {
            enqueuer: self.enqueuer(store.clone(), store.clone(), queue, default_phone_number_id.clone()),
            receipts: ReadReceipts::new(store.clone(), store.clone(), graph, default_phone_number_id),
            idempotency: IdempotentRequests::new(store, self.clock.clone(), self.settings.idempotency_lease),
        }
    }

    /// What the query routes need.
    pub fn query_state(&self, read: Arc<dyn ReadModel>) -> QueryState {
        QueryState {
            read,
            clock: self.clock.clone(),
        }
    }

    /// Every route the deployed functions serve, on one router, finished with the JSON fallbacks:
    /// what the local stack and the tests serve. Without a Graph client the send routes answer 503.
    pub fn router(
        &self,
        ports: &Ports,
        secrets: &Secrets,
        graph: Option<GraphClient>,
        default_phone_number_id: Option<String>,
    ) -> Router {
        let keys = ApiKeys::new(secrets.api_keys.clone());
        let ingestor = self.ingestor(secrets.app_secret.clone(), ports.inbound.clone(), ports.blobs.clone());
        let s = &ports.store;
        let send = graph.map(|graph| self.send_api(s.clone(), ports.outbound.clone(), graph, default_phone_number_id));
        api::finish(
            api::webhook_verify_router(secrets.verify_token.clone())
                .merge(api::webhook_ingest_router(ingestor))
                .merge(api::query_router(self.query_state(s.clone()), keys.clone()))
                .merge(api::send_router(send, keys)),
        )
    }

    /// The two queue consumers over every port: the inbound processor and the outbound sender.
    pub fn consumers(&self, ports: &Ports, graph: GraphClient) -> (Processor, Sender) {
        let s = &ports.store;
        (
            self.processor(s.clone(), s.clone(), ports.blobs.clone()),
            self.sender(s.clone(), ports.limiter.clone(), graph)
                .watching(self.lag_watch(s.clone(), ports.inbound.clone())),
        )
    }
}
