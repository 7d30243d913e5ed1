//! The SAM template and the code agree: every function is given exactly the variables the code
//! declares it reads (`wabridge::app::resources`), no more and no fewer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_yaml::Value;
use wabridge::app::resources::{FUNCTIONS, Function};

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn variable_names(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(|v| v.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|m| m.keys().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Binary name → the variables the template gives it (its own and the globals).
fn functions_in_template() -> Vec<(String, BTreeSet<String>)> {
    let t = template();
    let globals = variable_names(t.get("Globals").and_then(|g| g.get("Function")));
    let resources = t.get("Resources").and_then(Value::as_mapping).unwrap();
    resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned();
            let mut vars = variable_names(r.get("Properties"));
            vars.extend(globals.iter().cloned());
            (binary, vars)
        })
        .collect()
}

fn declared(f: &Function) -> BTreeSet<String> {
    f.reads().map(str::to_owned).collect()
}

#[test]
fn every_function_in_the_template_is_given_exactly_the_variables_its_code_reads() {
    let in_template = functions_in_template();
    let mut problems = Vec::new();
    for (binary, given) in &in_template {
        let Some(f) = FUNCTIONS.iter().find(|f| f.name == binary) else {
            problems.push(format!(
                "{binary}: in template.yaml but not in app::resources::FUNCTIONS"
            ));
            continue;
        };
        let wanted = declared(f);
        for extra in given.difference(&wanted) {
            problems.push(format!("{binary}: given {extra}, which the code does not read"));
        }
        for missing in wanted.difference(given) {
            problems.push(format!("{binary}: reads {missing}, which the template does not set"));
        }
    }
    for f in FUNCTIONS {
        if !in_template.iter().any(|(b, _)| b == f.name) {
            problems.push(format!(
                "{}: declared in code but not deployed by template.yaml",
                f.name
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "template.yaml and the code disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn sam_builds_each_function_from_its_own_crate() {
    // `sam build` runs `cargo lambda build --bin <Binary>` in CodeUri: from the workspace root
    // cargo would look only in the default members and find no such binary.
    let t = template();
    for r in t["Resources"].as_mapping().unwrap().values() {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert_eq!(r["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
        assert_eq!(
            r["Properties"]["CodeUri"].as_str(),
            Some(format!("functions/{binary}").as_str()),
            "{binary}"
        );
    }
}

#[test]
fn every_function_crate_is_declared_and_deployed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let crates: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let declared: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(crates, declared);
}

#[test]
fn a_variable_a_function_does_not_declare_is_refused_by_name() {
    let e = wabridge::app::resources::WEBHOOK_VERIFY
        .var(wabridge::app::resources::MESSAGES_TABLE)
        .unwrap_err();
    assert_eq!(e.var, "WABRIDGE_MESSAGES_TABLE");
    assert!(e.reason.contains("webhook-verify"), "{e}");
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]["Properties"]
}

fn number(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v:?} is not a number"))
}

#[test]
fn the_inbound_processor_dead_letters_with_its_reason_before_sqs_redrives_without_one() {
    use wabridge::runtime::consume::{DEFAULT_MAX_RECEIVES, RetryPolicy};
    let t = template();
    let param = &t["Parameters"]["MaxReceives"];
    assert_eq!(number(&param["Default"]), u64::from(DEFAULT_MAX_RECEIVES));
    let redrive = number(&resource(&t, "InboundQueue")["RedrivePolicy"]["maxReceiveCount"]);
    let highest = number(&param["MaxValue"]);
    assert!(
        highest < redrive,
        "MaxReceives may be {highest}, but SQS redrives after {redrive} receives, losing the reason"
    );
    // Even the most patient setting gives up well before the queue would drop the message.
    let retention = number(&resource(&t, "InboundQueue")["MessageRetentionPeriod"]);
    let most_patient = RetryPolicy {
        max_receives: u32::try_from(highest).unwrap(),
        ..RetryPolicy::default()
    };
    assert!(most_patient.budget().as_secs() * 2 < retention);
}

#[test]
fn webhook_bodies_in_the_bucket_outlive_every_queue_message_that_points_at_them() {
    let t = template();
    let rules = resource(&t, "DataBucket")["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap();
    let webhooks = rules
        .iter()
        .find(|r| r["Prefix"].as_str() == Some("webhooks/"))
        .expect("a lifecycle rule for webhooks/");
    let kept_s = number(&webhooks["ExpirationInDays"]) * 86_400;
    for queue in ["InboundQueue", "InboundDeadLetterQueue"] {
        let retention = number(&resource(&t, queue)["MessageRetentionPeriod"]);
        // S3 expires objects at the midnight after the day count, so require a clear day more.
        assert!(
            kept_s >= retention + 86_400,
            "{queue} keeps messages {retention} s but their bodies live {kept_s} s"
        );
    }
}

/// A function's timeout in the template (its own, else the global one).
fn timeout_of(t: &Value, resource: &str) -> u64 {
    let own = &self::resource(t, resource)["Timeout"];
    if own.is_null() {
        number(&t["Globals"]["Function"]["Timeout"])
    } else {
        number(own)
    }
}

#[test]
fn timeouts_nest_so_no_graph_call_is_cut_off_by_lambda() {
    let t = template();
    let settings = wabridge::app::Settings::from_config(&wabridge::Config::from_lookup(&|_| None).unwrap());
    let graph = settings.graph_timeout.as_secs();
    // send-api calls Graph once per request (read receipts), with the store around it.
    assert!(
        graph + 5 <= timeout_of(&t, "SendApiFunction"),
        "send-api: Graph may take {graph} s of a {} s function",
        timeout_of(&t, "SendApiFunction")
    );
    // The sender starts calls until its batch deadline; the last may then take the Graph timeout.
    let sender = timeout_of(&t, "OutboundSenderFunction");
    let last_call_ends = settings.sender.batch_deadline.as_secs() + graph;
    assert!(
        last_call_ends + 5 <= sender,
        "outbound-sender: a call started at the deadline ends at {last_call_ends} s of {sender} s"
    );
    // SQS hides a record for six times its consumer's timeout, as AWS advises.
    for (queue, function) in [
        ("OutboundQueue", "OutboundSenderFunction"),
        ("InboundQueue", "InboundProcessorFunction"),
        ("MediaQueue", "MediaDownloaderFunction"),
    ] {
        let visibility = number(&resource(&t, queue)["VisibilityTimeout"]);
        assert!(visibility >= 6 * timeout_of(&t, function), "{queue}");
    }
}

/// A scalar or an intrinsic (`!Ref X`, `!GetAtt X.Y`) as text: `X`, `X.Y`.
fn plain(v: &Value) -> String {
    match v {
        Value::Tagged(t) => plain(&t.value),
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// The parameter a secret's `SecretString` holds: `!Ref P`, or `!If [cond, !Ref P, !Ref
/// AWS::NoValue]` for a secret that Secrets Manager generates when `P` is left empty.
fn secret_source(v: &Value) -> String {
    match v {
        Value::Tagged(t) if t.tag == "!If" => t
            .value
            .as_sequence()
            .and_then(|s| s.get(1))
            .map(plain)
            .unwrap_or_default(),
        other => plain(other),
    }
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), &r["Properties"]))
        .collect()
}

/// `(metric, dimension value)` of every alarm that notifies the alarm topic.
fn alarms(t: &Value) -> Vec<(String, String)> {
    resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, p)| {
            p["AlarmActions"]
                .as_sequence()
                .is_some_and(|a| a.iter().any(|x| plain(x) == "AlarmTopic"))
        })
        .map(|(_, p)| {
            let dim = p["Dimensions"][0]["Value"].clone();
            (p["MetricName"].as_str().unwrap().to_owned(), plain(&dim))
        })
        .collect()
}

#[test]
fn someone_is_told_when_anything_is_stuck_or_failing() {
    let t = template();
    let alarms = alarms(&t);
    let has = |metric: &str, target: &str| alarms.iter().any(|(m, d)| m == metric && d == target);
    for (queue, props) in resources_of_type(&t, "AWS::SQS::Queue") {
        if let Some(dlq) = props.get("RedrivePolicy").map(|r| plain(&r["deadLetterTargetArn"])) {
            let dlq = dlq.trim_end_matches(".Arn").to_owned();
            assert!(
                has("ApproximateNumberOfMessagesVisible", &format!("{dlq}.QueueName")),
                "no alarm on {dlq}"
            );
            assert!(
                has("ApproximateAgeOfOldestMessage", &format!("{queue}.QueueName")),
                "no age alarm on {queue}"
            );
        }
    }
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    let groups: Vec<String> = resources_of_type(&t, "AWS::Logs::LogGroup")
        .into_iter()
        .filter(|(_, p)| !p["RetentionInDays"].is_null())
        .map(|(_, p)| plain(&p["LogGroupName"]))
        .collect();
    for (name, props) in &functions {
        assert!(
            has("Errors", name) && has("Throttles", name),
            "{name}: errors and throttles"
        );
        assert!(
            groups.contains(&format!("/aws/lambda/${{{name}}}")),
            "{name}: no log group with a retention"
        );
        // Every queue-fed function is capped, so a retry storm cannot take the account's concurrency.
        for event in props["Events"].as_mapping().unwrap().values() {
            if event["Type"].as_str() == Some("SQS") {
                assert!(
                    event["Properties"]["ScalingConfig"]["MaximumConcurrency"].is_number(),
                    "{name}: an SQS event source without MaximumConcurrency"
                );
            }
        }
    }
    for reserved in ["WebhookIngestFunction", "QueryApiFunction", "SendApiFunction"] {
        let p = &t["Resources"][reserved]["Properties"];
        assert!(
            !p["ReservedConcurrentExecutions"].is_null(),
            "{reserved}: no reserved concurrency"
        );
    }
}

#[test]
fn unrouted_paths_reach_our_router_and_sam_build_needs_no_prompt() {
    let t = template();
    let default_route = resources_of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .flat_map(|(name, p)| {
            p["Events"]
                .as_mapping()
                .unwrap()
                .values()
                .filter(|e| e["Properties"]["Path"].as_str() == Some("$default"))
                .map(move |_| name.clone())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    assert_eq!(
        default_route,
        vec!["QueryApiFunction".to_owned()],
        "one $default route, to query-api"
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samconfig.toml");
    let config = std::fs::read_to_string(path).expect("samconfig.toml at the repo root");
    let build = config
        .split("[default.build.parameters]")
        .nth(1)
        .expect("a [default.build.parameters] table");
    assert!(
        build.lines().any(|l| l.replace(' ', "") == "beta_features=true"),
        "sam build asks before using the rust-cargolambda beta unless beta_features = true"
    );
}

#[test]
fn secrets_reach_functions_only_through_secrets_manager_and_only_where_needed() {
    use wabridge::app::resources::SECRETS;
    let t = template();
    let no_echo: BTreeSet<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    let secrets: BTreeSet<String> = resources_of_type(&t, "AWS::SecretsManager::Secret")
        .into_iter()
        .map(|(name, p)| {
            assert!(
                no_echo.contains(&secret_source(&p["SecretString"])),
                "{name} holds a NoEcho parameter"
            );
            name
        })
        .collect();
    assert_eq!(secrets.len(), SECRETS.len(), "one secret per secret setting");
    let mut problems = Vec::new();
    for (name, p) in resources_of_type(&t, "AWS::Serverless::Function") {
        let vars = p["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
        let mut given = BTreeSet::new();
        for (var, value) in &vars {
            let (var, value) = (var.as_str().unwrap(), plain(value));
            if no_echo.contains(&value) {
                problems.push(format!("{name}: {var} is a NoEcho parameter in plain sight"));
            }
            if SECRETS.iter().any(|(_, arn_var)| *arn_var == var) {
                if !secrets.contains(&value) {
                    problems.push(format!("{name}: {var} is not one of the secrets"));
                }
                given.insert(value);
            }
        }
        // The role may read exactly the secrets the function is given.
        let readable: BTreeSet<String> = p["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|policy| policy.get("AWSSecretsManagerGetSecretValuePolicy"))
            .map(|policy| plain(&policy["SecretArn"]))
            .collect();
        if readable != given {
            problems.push(format!("{name}: given {given:?} but may read {readable:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every schedule in the template invokes its function with a job the scheduler knows: a
/// misspelt `Input` would otherwise be refused every hour in production.
#[test]
fn every_scheduled_invocation_names_a_job_the_scheduler_knows() {
    let t = template();
    let mut seen = Vec::new();
    for (name, p) in resources_of_type(&t, "AWS::Serverless::Function") {
        for (event, e) in p["Events"].as_mapping().into_iter().flatten() {
            if e["Type"].as_str() != Some("ScheduleV2") {
                continue;
            }
            let input: serde_json::Value = match e["Properties"].get("Input") {
                Some(i) => serde_json::from_str(i.as_str().unwrap()).unwrap(),
                None => serde_json::json!({}),
            };
            let job = wabridge::schedule::jobs::Job::of(&input)
                .unwrap_or_else(|e| panic!("{name} {}: {e}", event.as_str().unwrap_or_default()));
            seen.push(job);
        }
    }
    use wabridge::schedule::jobs::Job;
    assert!(
        seen.contains(&Job::Tick) && seen.contains(&Job::TemplateSync),
        "{seen:?}"
    );
}
