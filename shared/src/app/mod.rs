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

use crate::analytics::Recorder;
use crate::api::idempotency::IdempotentRequests;
use crate::api::{self, ApiKeys, FlowsState, QueryState, SendApi};
use crate::callbacks::deliver::{ClientError, Deliverer};
use crate::callbacks::{CallbackConfig, Events};
use crate::contacts::Contacts;
use crate::graph::GraphClient;
use crate::inbound::ingest::Ingestor;
use crate::inbound::lag::{LagMarker, LagWatch};
use crate::inbound::process::Processor;
use crate::inbound::reactions::opt_out::Keywords;
use crate::inbound::reactions::{Automate, CountAnalytics, OptOut, RaiseEvents, Reaction, TrackTemplates};
use crate::media::download::Downloader;
use crate::media::upload::Uploader;
use crate::media::url::UrlSigner;
use crate::outbound::enqueue::Enqueuer;
use crate::outbound::read_receipt::ReadReceipts;
use crate::outbound::sender::Sender;
use crate::outbound::sweep::Sweeper;
use crate::ports::{
    Automation, Blobs, Clock, ContactBook, Inbox, MediaStore, Outbox, Queue, RateLimiter, ReadModel, Store,
    TemplateStore,
};
use crate::schedule::Scheduler;
use crate::templates::catalog::Catalog;

/// The business's numbers at Meta: the phone number sends go from by default, and the WhatsApp
/// Business Account whose templates we keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Numbers {
    /// `WHATSAPP_PHONE_NUMBER_ID`: sends without a `phone_number_id` go from it.
    pub phone_number_id: Option<String>,
    /// `WHATSAPP_BUSINESS_ACCOUNT_ID`: the WABA; without it templates are not tracked.
    pub waba_id: Option<String>,
}

impl Numbers {
    /// The numbers as configured.
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            phone_number_id: config.phone_number_id.clone(),
            waba_id: config.business_account_id.clone(),
        }
    }
}

/// Factories for the use cases, over the settings and the clock they share.
#[derive(Clone)]
pub struct App {
    /// Tuning knobs.
    pub settings: Settings,
    /// The time: the system clock, or a test's manual one.
    pub clock: Arc<dyn Clock>,
    reactions: Vec<Arc<dyn Reaction>>,
    keywords: Keywords,
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
    /// Media downloads waiting to run.
    pub media: Arc<dyn Queue>,
    /// Event callbacks waiting to be posted.
    pub callbacks: Arc<dyn Queue>,
    /// Large webhook bodies, and media.
    pub blobs: Arc<dyn Blobs>,
    /// Shared rate-limit buckets.
    pub limiter: Arc<dyn RateLimiter>,
    /// Signs the URLs of local folder storage, which the router then serves (`/media/...`);
    /// `None` where storage presigns its own (S3).
    pub media_urls: Option<UrlSigner>,
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
            keywords: Keywords::default(),
        }
    }

    /// What Lambda runs: [`Settings::from_config`] and the system clock.
    pub fn deployed(config: &crate::Config) -> Self {
        Self::new(Settings::from_config(config), Arc::new(crate::ports::SystemClock))
            .with_keywords(config.keywords.clone())
    }

    /// The opt-out and opt-in keywords the processor answers.
    pub fn with_keywords(mut self, keywords: Keywords) -> Self {
        self.keywords = keywords;
        self
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

    /// The inbound processor as deployed: every registered reaction, media messages queue their
    /// download on `media`, template webhooks update the templates copy, opt-out keywords and
    /// Meta's `user_preferences` mark contacts (confirmed on `outbound` when given), flows and
    /// keyword rules answer (on `outbound`), and, with `events`, messages, statuses, opt-outs,
    /// escalations and completed flows raise callbacks. Replies go through the checks of a
    /// caller's send ([`App::checked_enqueuer`]): with the WABA of `numbers`, a template reply is
    /// checked against the templates copy and a marketing one never reaches an opted-out customer.
    pub fn full_processor(
        &self,
        store: Arc<dyn Store>,
        blobs: Arc<dyn Blobs>,
        media: Arc<dyn Queue>,
        outbound: Option<Arc<dyn Queue>>,
        events: Option<Events>,
        numbers: &Numbers,
    ) -> Processor {
        let templates = TrackTemplates::new(self.catalog(store.clone(), None), self.clock.clone());
        let counts = CountAnalytics::new(self.recorder(store.clone()));
        let replies = outbound.map(|q| self.checked_enqueuer(store.clone(), q, numbers, None));
        let opt_out = OptOut::new(store.clone(), self.keywords.clone(), replies.clone()).raising(events.clone());
        let mut p = self
            .processor(store.clone(), store.clone(), blobs)
            .fetching_media(store.clone(), media)
            .with_reaction(Arc::new(templates))
            .with_reaction(Arc::new(counts))
            .with_reaction(Arc::new(opt_out));
        // Rules answer through the outbound queue; a processor without one (tests of the
        // processor alone) runs none.
        if let Some(enqueuer) = replies {
            let automate = Automate::new(
                store.clone(),
                store,
                enqueuer,
                events.clone(),
                self.keywords.clone(),
                self.clock.clone(),
            );
            p = p.with_reaction(Arc::new(automate));
        }
        match events {
            Some(events) => p.with_reaction(Arc::new(RaiseEvents::new(events))),
            None => p,
        }
    }

    /// The callbacks queue's consumer, posting to the receiver `config` names.
    pub fn deliverer(&self, config: CallbackConfig) -> Result<Deliverer, ClientError> {
        Deliverer::new(config, self.settings.callback_retry, self.settings.callback_timeout)
    }

    /// What counts messages in the analytics counters (it reads each message and its timeline).
    pub fn recorder(&self, store: Arc<dyn Store>) -> Recorder {
        Recorder::new(store.clone(), store)
    }

    /// The templates use case over `store`; with Graph and the WABA id it also creates, deletes
    /// and syncs at Meta.
    pub fn catalog(&self, store: Arc<dyn TemplateStore>, graph: Option<(GraphClient, String)>) -> Catalog {
        Catalog::new(store, graph, self.clock.clone())
    }

    /// The media queue's consumer.
    pub fn downloader(&self, media: Arc<dyn MediaStore>, blobs: Arc<dyn Blobs>, graph: GraphClient) -> Downloader {
        Downloader::new(media, blobs, graph, self.clock.clone(), self.settings.media)
    }

    /// `POST /v1/media`: operator uploads to Meta.
    pub fn uploader(
        &self,
        media: Arc<dyn MediaStore>,
        blobs: Arc<dyn Blobs>,
        graph: GraphClient,
        default_phone_number_id: Option<String>,
    ) -> Uploader {
        Uploader::new(media, blobs, graph, self.clock.clone(), default_phone_number_id)
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

    /// Reminders, follow-up sequences and campaigns over the store. With the outbound queue it
    /// also ticks: its sends are queued as `POST /v1/messages` queues them, template sends
    /// checked against the templates copy when the WABA is known.
    pub fn scheduler(&self, store: Arc<dyn Store>, outbound: Option<Arc<dyn Queue>>, numbers: &Numbers) -> Scheduler {
        let enqueuer = outbound.map(|queue| self.checked_enqueuer(store.clone(), queue, numbers, None));
        let scheduler = Scheduler::new(store.clone(), enqueuer, self.clock.clone(), self.settings.schedule)
            .reading(store.clone(), numbers.phone_number_id.clone())
            .personalising(store.clone())
            .running_campaigns(
                store.clone(),
                store.clone(),
                self.settings.sender.throughput_mps,
                self.settings.campaign_share,
            );
        match numbers.waba_id {
            Some(_) => scheduler.checking_templates(self.catalog(store, None)),
            None => scheduler,
        }
    }

    /// The enqueue as callers' sends and scheduled sends go through it: counted in the analytics
    /// and, when the WABA is known, checked against the templates copy (synced from Meta on an
    /// unknown template when `graph` is given) and refused to opted-out contacts when marketing.
    /// Without the WABA id there is no way to learn the templates: sends go unchecked, as before
    /// templates were tracked, and Meta has the last word.
    pub fn checked_enqueuer(
        &self,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        numbers: &Numbers,
        graph: Option<GraphClient>,
    ) -> Enqueuer {
        let enqueuer = self
            .enqueuer(store.clone(), store.clone(), queue, numbers.phone_number_id.clone())
            .counting(self.recorder(store.clone()));
        match &numbers.waba_id {
            Some(waba) => enqueuer
                .checking_templates(self.catalog(store.clone(), graph.map(|g| (g, waba.clone()))))
                .respecting_opt_outs(store),
            None => enqueuer,
        }
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
    /// windows, media records to renew old uploads from `blobs`, the templates copy to check
    /// template sends when the WABA is known), read receipts (read model, inbox for the read
    /// position), `Idempotency-Key`. Its uploader also serves `POST /v1/media`.
    pub fn send_api(
        &self,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        blobs: Arc<dyn Blobs>,
        graph: GraphClient,
        numbers: &Numbers,
    ) -> SendApi {
        let pni = numbers.phone_number_id.clone();
        SendApi {
            enqueuer: self.checked_enqueuer(store.clone(), queue, numbers, Some(graph.clone())),
            receipts: ReadReceipts::new(store.clone(), store.clone(), graph.clone(), pni.clone()),
            uploads: self.uploader(store.clone(), blobs, graph, pni),
            idempotency: IdempotentRequests::new(store, self.clock.clone(), self.settings.idempotency_lease),
        }
    }

    /// What the flow routes need (`/v1/flows`).
    pub fn flows_state(&self, store: Arc<dyn Automation>) -> FlowsState {
        FlowsState {
            store,
            clock: self.clock.clone(),
        }
    }

    /// The contacts the business keeps (`/v1/contacts`).
    pub fn contacts(&self, book: Arc<dyn ContactBook>) -> Contacts {
        Contacts::new(book, self.clock.clone())
    }

    /// What the query routes need: reads, and media records with the storage that serves them.
    pub fn query_state(
        &self,
        read: Arc<dyn ReadModel>,
        media: Arc<dyn MediaStore>,
        blobs: Arc<dyn Blobs>,
    ) -> QueryState {
        QueryState {
            read,
            media,
            blobs,
            media_url_ttl: self.settings.media_url_ttl,
            clock: self.clock.clone(),
        }
    }

    /// Every route the deployed functions serve, on one router, finished with the JSON fallbacks:
    /// what the local stack and the tests serve. Without a Graph client the send routes answer 503.
    pub fn router(&self, ports: &Ports, secrets: &Secrets, graph: Option<GraphClient>, numbers: &Numbers) -> Router {
        let keys = ApiKeys::new(secrets.api_keys.clone());
        let ingestor = self.ingestor(secrets.app_secret.clone(), ports.inbound.clone(), ports.blobs.clone());
        let s = &ports.store;
        let managed = graph.clone().zip(numbers.waba_id.clone());
        let templates = api::templates_router(self.catalog(s.clone(), managed), keys.clone());
        let send =
            graph.map(|graph| self.send_api(s.clone(), ports.outbound.clone(), ports.blobs.clone(), graph, numbers));
        let uploader = send.as_ref().map(|api| api.uploads.clone());
        let local_files = ports
            .media_urls
            .clone()
            .map(|signer| api::local_media_router(s.clone(), ports.blobs.clone(), signer, self.clock.clone()));
        api::finish(
            local_files
                .unwrap_or_default()
                .merge(api::webhook_verify_router(secrets.verify_token.clone()))
                .merge(api::webhook_ingest_router(ingestor))
                .merge(api::query_router(
                    self.query_state(s.clone(), s.clone(), ports.blobs.clone()),
                    keys.clone(),
                ))
                .merge(templates)
                .merge(api::contacts_router(self.contacts(s.clone()), keys.clone()))
                .merge(api::schedule_router(
                    self.scheduler(s.clone(), None, numbers),
                    keys.clone(),
                ))
                .merge(api::analytics_router(s.clone(), keys.clone()))
                .merge(api::rules_router(s.clone(), keys.clone()))
                .merge(api::flows_router(self.flows_state(s.clone()), keys.clone()))
                .merge(api::upload_router(uploader, keys.clone()))
                .merge(api::send_router(send, keys)),
        )
    }

    /// The queue consumers over every port: the inbound processor (queueing media downloads, and
    /// raising callbacks on `ports.callbacks` when `callbacks` is true), the outbound sender and the
    /// media downloader.
    pub fn consumers(
        &self,
        ports: &Ports,
        graph: GraphClient,
        callbacks: bool,
        numbers: &Numbers,
    ) -> (Processor, Sender, Downloader) {
        let s = &ports.store;
        (
            self.full_processor(
                s.clone(),
                ports.blobs.clone(),
                ports.media.clone(),
                Some(ports.outbound.clone()),
                callbacks.then(|| Events::new(ports.callbacks.clone())),
                numbers,
            ),
            self.sender(s.clone(), ports.limiter.clone(), graph.clone())
                .watching(self.lag_watch(s.clone(), ports.inbound.clone()))
                .counting(self.recorder(s.clone())),
            self.downloader(s.clone(), ports.blobs.clone(), graph),
        )
    }
}
