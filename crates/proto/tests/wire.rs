//! JSON wire-format tests against documents shaped like Mesos' own
//! (its JSON encoding of protobufs, and the quirks of what Mesos prints).

use cairn_proto::scheduler::{self, CallType, EventType};
use cairn_proto::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Debug;

/// Parses `doc`, re-serialises the value, re-parses that, and checks both
/// parses agree. Returns the parsed value and its serialised JSON.
fn round_trip<T>(doc: &Value) -> (T, Value)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let parsed: T = serde_json::from_value(doc.clone()).expect("document parses");
    let written = serde_json::to_value(&parsed).expect("value serialises");
    let reparsed: T = serde_json::from_value(written.clone()).expect("output re-parses");
    assert_eq!(
        parsed, reparsed,
        "re-parsing our own output changed the value"
    );
    (parsed, written)
}

const FW: &str = "a1b2c3d4-0000-0000-0000-000000000000-0003";
const AGENT: &str = "a1b2c3d4-0000-0000-0000-000000000000-S0";

#[test]
fn subscribe_call_from_the_reference_parses_and_round_trips() {
    let doc = json!({
      "type": "SUBSCRIBE",
      "subscribe": {
        "framework_info": {
          "user": "nobody",
          "name": "kv-store",
          "principal": "kv-principal",
          "roles": ["kv", "kv/backup"],
          "failover_timeout": 604800.0,
          "checkpoint": true,
          "capabilities": [
            {"type": "MULTI_ROLE"}, {"type": "RESERVATION_REFINEMENT"},
            {"type": "PARTITION_AWARE"}, {"type": "TASK_KILLING_STATE"}
          ],
          "labels": {"labels": [{"key": "team", "value": "storage"}]}
        },
        "suppressed_roles": ["kv/backup"]
      }
    });
    let (call, written): (scheduler::Call, Value) = round_trip(&doc);
    assert_eq!(call.type_, CallType::Subscribe);
    assert_eq!(call.validate(), Ok(()));
    let sub = call.subscribe.as_ref().expect("subscribe payload");
    let info = &sub.framework_info;
    assert_eq!(info.user, "nobody");
    assert_eq!(info.name, "kv-store");
    assert_eq!(info.failover_timeout, Some(604800.0));
    assert_eq!(info.checkpoint, Some(true));
    assert!(info.has_capability(CapabilityType::MultiRole));
    assert!(info.has_capability(CapabilityType::ReservationRefinement));
    assert!(!info.has_capability(CapabilityType::GpuResources));
    assert_eq!(info.effective_roles(), vec!["kv", "kv/backup"]);
    assert_eq!(
        info.labels.as_ref().and_then(|l| l.get("team")),
        Some("storage")
    );
    assert_eq!(sub.suppressed_roles, vec!["kv/backup"]);
    // Nothing was added or renamed on the way out.
    assert_eq!(written, doc);
}

#[test]
fn subscribed_event_is_written_with_snake_case_keys_and_enum_strings() {
    let event = scheduler::Event::subscribed(FrameworkId::new(FW), 15.0, None);
    let text = serde_json::to_string(&event).expect("serialises");
    assert_eq!(
        text,
        format!(
            r#"{{"type":"SUBSCRIBED","subscribed":{{"framework_id":{{"value":"{FW}"}},"heartbeat_interval_seconds":15.0}}}}"#
        )
    );
    assert_eq!(
        serde_json::to_string(&scheduler::Event::heartbeat()).expect("serialises"),
        r#"{"type":"HEARTBEAT"}"#
    );
}

fn offers_doc() -> Value {
    json!({
      "type": "OFFERS",
      "offers": {
        "offers": [{
          "id": {"value": "a1b2-O17"},
          "framework_id": {"value": FW},
          "agent_id": {"value": AGENT},
          "hostname": "127.0.0.1",
          "allocation_info": {"role": "kv"},
          "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
             "allocation_info": {"role": "kv"},
             "reservations": [{"type": "DYNAMIC", "role": "kv", "principal": "kv-principal"}]},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 2048.0},
             "allocation_info": {"role": "kv"}},
            {"name": "ports", "type": "RANGES",
             "ranges": {"range": [{"begin": 31000, "end": 31099}]},
             "allocation_info": {"role": "kv"}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 512.0},
             "allocation_info": {"role": "kv"},
             "reservations": [{"type": "DYNAMIC", "role": "kv", "principal": "kv-principal",
                               "labels": {"labels": [{"key": "pod", "value": "kv-0"}]}}],
             "disk": {"persistence": {"id": "kv-0-data-7d1e", "principal": "kv-principal"},
                      "volume": {"container_path": "data", "mode": "RW"}}}
          ],
          "attributes": [{"name": "zone", "type": "TEXT", "text": {"value": "local"}}],
          "executor_ids": []
        }]
      }
    })
}

#[test]
fn offers_event_with_a_refined_reserved_volume_parses_and_round_trips() {
    let (event, written): (scheduler::Event, Value) = round_trip(&offers_doc());
    assert_eq!(event.type_, EventType::Offers);
    let offers = &event.offers.as_ref().expect("offers payload").offers;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!(offer.agent_id.as_str(), AGENT);
    assert_eq!(offer.allocation_info, Some(AllocationInfo::role("kv")));
    assert_eq!(offer.attributes[0].value_string(), "local");

    let resources = Resources::from(offer.resources.clone());
    assert_eq!(resources.scalar("cpus"), 1.0);
    assert_eq!(resources.scalar("mem"), 2048.0);
    assert_eq!(resources.ranges("ports"), vec![Range::new(31000, 31099)]);

    let volume = &offer.resources[3];
    assert!(volume.is_persistent_volume());
    assert!(volume.is_dynamically_reserved());
    assert_eq!(volume.reservation_role(), Some("kv"));
    assert_eq!(volume.persistence_id(), Some("kv-0-data-7d1e"));
    assert_eq!(
        volume.reservation_labels().and_then(|l| l.get("pod")),
        Some("kv-0")
    );
    let disk = volume.disk.as_ref().expect("disk info");
    assert_eq!(disk.volume.as_ref().map(|v| v.mode), Some(VolumeMode::Rw));
    assert!(offer.resources[1].is_unreserved());
    assert_eq!(resources.reserved_to("kv").len(), 2);
    assert!(volume.validate().is_ok());

    // The empty `executor_ids` list is the only thing dropped on the way out.
    let mut expected = offers_doc();
    expected["offers"]["offers"][0]
        .as_object_mut()
        .expect("offer object")
        .remove("executor_ids");
    assert_eq!(written, expected);
}

#[test]
fn accept_with_reserve_create_and_launch_group_parses_and_round_trips() {
    let reserved = |name: &str, value: f64| {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": value},
               "allocation_info": {"role": "kv"},
               "reservations": [{"type": "DYNAMIC", "role": "kv", "principal": "kv-principal"}]})
    };
    let mut volume = reserved("disk", 512.0);
    volume["disk"] = json!({"persistence": {"id": "kv-0-data-7d1e", "principal": "kv-principal"},
                            "volume": {"container_path": "data", "mode": "RW"}});
    let doc = json!({
      "type": "ACCEPT",
      "framework_id": {"value": FW},
      "accept": {
        "offer_ids": [{"value": "a1b2-O18"}],
        "filters": {"refuse_seconds": 2.0},
        "operations": [
          {"type": "RESERVE", "id": {"value": "op-res-1"},
           "reserve": {"resources": [reserved("cpus", 0.6), reserved("mem", 288.0), reserved("disk", 512.0)]}},
          {"type": "CREATE", "create": {"volumes": [volume.clone()]}},
          {"type": "LAUNCH_GROUP",
           "launch_group": {
             "executor": {
               "type": "DEFAULT",
               "executor_id": {"value": "kv-0-exec"},
               "framework_id": {"value": FW},
               "resources": [reserved("cpus", 0.1), reserved("mem", 32.0)]
             },
             "task_group": {"tasks": [{
               "name": "kv-0-server",
               "task_id": {"value": "kv-0-server__3c9a"},
               "agent_id": {"value": AGENT},
               "command": {"shell": true, "value": "echo hi > data/hello && sleep 3600"},
               "resources": [reserved("cpus", 0.5), reserved("mem", 256.0), volume],
               "labels": {"labels": [{"key": "target_configuration", "value": "cfg-42"}]}
             }]}
           }}
        ]
      }
    });
    let (call, written): (scheduler::Call, Value) = round_trip(&doc);
    assert_eq!(written, doc);
    assert_eq!(call.validate(), Ok(()));
    let accept = call.accept.as_ref().expect("accept payload");
    assert_eq!(accept.filters, Some(Filters::refuse_seconds(2.0)));
    let ops = &accept.operations;
    assert_eq!(
        ops.iter().map(|o| o.type_).collect::<Vec<_>>(),
        vec![
            OperationType::Reserve,
            OperationType::Create,
            OperationType::LaunchGroup
        ]
    );
    assert!(ops.iter().all(|o| o.missing_payload().is_none()));
    assert_eq!(ops[0].id, Some(OperationId::new("op-res-1")));

    let reserve = Resources::from(ops[0].reserve.as_ref().expect("reserve").resources.clone());
    assert_eq!(reserve.scalar("cpus"), 0.6);
    assert_eq!(reserve.reserved_to("kv").len(), 3);

    let group = ops[2].launch_group.as_ref().expect("launch_group");
    assert_eq!(group.executor.type_, Some(ExecutorType::Default));
    let task = &group.task_group.tasks[0];
    assert_eq!(task.task_id, TaskId::new("kv-0-server__3c9a"));
    let command = task.command.as_ref().expect("command");
    assert!(command.is_shell());
    assert_eq!(
        task.labels
            .as_ref()
            .and_then(|l| l.get("target_configuration")),
        Some("cfg-42")
    );
    // Task + executor fit in what the RESERVE produced.
    let mut needed = Resources::from(
        task.resources
            .clone()
            .into_iter()
            .take(2)
            .collect::<Vec<_>>(),
    );
    needed.add_all(&group.executor.resources);
    assert!(reserve.contains(&needed));
}

#[test]
fn update_event_and_its_acknowledgement_round_trip_with_a_24_char_uuid() {
    let doc = json!({"type": "UPDATE",
     "update": {"status": {
       "task_id": {"value": "kv-0-server__3c9a"},
       "state": "TASK_RUNNING",
       "source": "SOURCE_EXECUTOR",
       "agent_id": {"value": AGENT},
       "executor_id": {"value": "kv-0-exec"},
       "timestamp": 1732400000.123,
       "uuid": "q83vEjRWeJC6mN7wEjRWeA==",
       "container_status": {"container_id": {"value": "9a7e"}}}}});
    let (event, written): (scheduler::Event, Value) = round_trip(&doc);
    assert_eq!(written, doc);
    let status = &event.update.as_ref().expect("update").status;
    assert_eq!(status.state, TaskState::Running);
    assert_eq!(status.source, Some(Source::Executor));
    assert_eq!(status.timestamp, Some(1732400000.123));
    assert!(status.needs_acknowledgement());
    let uuid = status.uuid.clone().expect("uuid");
    assert_eq!(uuid.len(), 16);

    let ack = scheduler::Call::acknowledge(
        FrameworkId::new(FW),
        status.agent_id.clone().expect("agent id"),
        status.task_id.clone(),
        uuid,
    );
    assert_eq!(ack.validate(), Ok(()));
    let text = serde_json::to_string(&ack).expect("serialises");
    assert_eq!(
        text,
        format!(
            r#"{{"type":"ACKNOWLEDGE","framework_id":{{"value":"{FW}"}},"acknowledge":{{"agent_id":{{"value":"{AGENT}"}},"task_id":{{"value":"kv-0-server__3c9a"}},"uuid":"q83vEjRWeJC6mN7wEjRWeA=="}}}}"#
        )
    );
    let ack_json: Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(
        ack_json["acknowledge"]["uuid"].as_str().map(str::len),
        Some(24)
    );
}

#[test]
fn reconciliation_update_carries_no_uuid_and_needs_no_acknowledgement() {
    let mut status = TaskStatus::new("t1", TaskState::Lost);
    status.source = Some(Source::Master);
    status.reason = Some(Reason::Reconciliation);
    status.message = Some("Reconciliation: Latest task state".into());
    let written = serde_json::to_value(scheduler::Event::update(status.clone())).expect("ok");
    assert_eq!(
        written["update"]["status"]["reason"],
        "REASON_RECONCILIATION"
    );
    assert_eq!(written["update"]["status"]["source"], "SOURCE_MASTER");
    assert!(written["update"]["status"].get("uuid").is_none());
    assert!(!status.needs_acknowledgement());
}

#[test]
fn mesos_output_with_defaults_unknown_keys_nulls_and_numeric_strings_parses() {
    // What a real master writes: every defaulted optional field, keys we do
    // not model, plus the leniencies of its parser.
    let doc = json!({
      "type": "SUBSCRIBE",
      "framework_id": null,
      "some_future_field": {"x": 1},
      "subscribe": {
        "framework_info": {
          "user": "root", "name": "svc",
          "failover_timeout": 0.0,
          "checkpoint": false,
          "roles": null,
          "capabilities": [{"type": "SOME_FUTURE_CAPABILITY"}, {"type": "MULTI_ROLE"}],
          "unknown_nested": [1, 2, 3]
        },
        "suppressed_roles": null
      }
    });
    let (call, _): (scheduler::Call, Value) = round_trip(&doc);
    assert_eq!(call.framework_id, None);
    let info = &call.subscribe.as_ref().expect("subscribe").framework_info;
    assert_eq!(info.failover_timeout, Some(0.0));
    assert_eq!(info.checkpoint, Some(false));
    assert!(info.roles.is_empty());
    assert_eq!(info.capabilities[0].type_, CapabilityType::Unknown);
    assert!(info.has_capability(CapabilityType::MultiRole));

    let accept = json!({
      "type": "ACCEPT",
      "framework_id": {"value": FW},
      "accept": {
        "offer_ids": [{"value": "o1"}],
        "filters": {"refuse_seconds": 5.0},
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
          "name": "t", "task_id": {"value": "t"}, "agent_id": {"value": AGENT},
          "command": {"shell": true, "value": "sleep 1", "uris": null,
                      "environment": {"variables": [{"name": "A", "type": "VALUE", "value": "1"}]}},
          "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": "0.5"}, "role": "*"},
            {"name": "ports", "type": "RANGES",
             "ranges": {"range": [{"begin": "31000", "end": 31001.0}]}}
          ],
          "kill_policy": {"grace_period": {"nanoseconds": "3000000000"}},
          "health_check": {"type": "HTTP", "http": {"port": "8080", "path": "/ok", "statuses": ["200", 204]},
                           "interval_seconds": "5"},
          "limits": {"cpus": {"value": "Infinity"}},
          "container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER"}}}
        }]}}]
      }
    });
    let (call, written): (scheduler::Call, Value) = round_trip(&accept);
    let accept_payload = call.accept.as_ref().expect("accept");
    assert_eq!(
        accept_payload
            .filters
            .as_ref()
            .map(Filters::effective_refuse_seconds),
        Some(5.0)
    );
    let task = &accept_payload.operations[0]
        .launch
        .as_ref()
        .expect("launch")
        .task_infos[0];
    assert_eq!(task.resources[0].scalar_value(), 0.5);
    assert_eq!(task.resources[0].role.as_deref(), Some("*"));
    assert!(task.resources[0].is_unreserved());
    assert_eq!(
        task.resources[1].range_values(),
        &[Range::new(31000, 31001)]
    );
    assert_eq!(
        task.kill_policy
            .as_ref()
            .and_then(|k| k.grace_period)
            .map(|g| g.nanoseconds),
        Some(3_000_000_000)
    );
    let hc = task.health_check.as_ref().expect("health check");
    assert_eq!(hc.interval(), 5.0);
    assert_eq!(hc.delay(), 15.0);
    assert_eq!(hc.timeout(), 20.0);
    assert_eq!(hc.max_consecutive_failures(), 3);
    assert_eq!(hc.grace_period(), 10.0);
    let http = hc.http.as_ref().expect("http");
    assert_eq!((http.port, http.statuses.clone()), (8080, vec![200, 204]));
    let env = task
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
        .expect("env");
    assert_eq!(env.get("A"), Some("1"));
    assert_eq!(
        task.limits.as_ref().map(|l| l["cpus"]["value"].clone()),
        Some(json!("Infinity"))
    );
    assert_eq!(
        task.container.as_ref().map(|c| c["type"].clone()),
        Some(json!("MESOS"))
    );
    // Numeric strings come out as numbers.
    let res = &written["accept"]["operations"][0]["launch"]["task_infos"][0]["resources"];
    assert_eq!(res[0]["scalar"]["value"], json!(0.5));
    assert_eq!(res[1]["ranges"]["range"][0]["begin"], json!(31000));
}

#[test]
fn infinity_strings_parse_as_doubles_and_are_written_back_as_strings() {
    let scalar: Scalar = serde_json::from_value(json!({"value": "Infinity"})).expect("parses");
    assert_eq!(scalar.value, f64::INFINITY);
    assert_eq!(
        serde_json::to_value(scalar).expect("ok"),
        json!({"value": "Infinity"})
    );
    let neg: Filters = serde_json::from_value(json!({"refuse_seconds": "-Infinity"})).expect("ok");
    assert_eq!(neg.refuse_seconds, Some(f64::NEG_INFINITY));
    let bad = serde_json::from_value::<Scalar>(json!({"value": "lots"}));
    assert!(bad.is_err());
}

#[test]
fn integers_reject_fractions_and_out_of_range_values() {
    assert!(serde_json::from_value::<Range>(json!({"begin": 1.5, "end": 2})).is_err());
    assert!(serde_json::from_value::<Range>(json!({"begin": -1, "end": 2})).is_err());
    assert!(serde_json::from_value::<HttpCheckInfo>(json!({"port": 5_000_000_000u64})).is_err());
    let ok: Range = serde_json::from_value(json!({"begin": " 7 ", "end": "8"})).expect("ok");
    assert_eq!(ok, Range::new(7, 8));
}

#[test]
fn missing_required_fields_fail_to_parse() {
    assert!(serde_json::from_value::<FrameworkInfo>(json!({"user": "u"})).is_err());
    assert!(serde_json::from_value::<TaskStatus>(json!({"task_id": {"value": "t"}})).is_err());
    assert!(serde_json::from_value::<scheduler::Call>(json!({"subscribe": {}})).is_err());
    assert!(serde_json::from_value::<Resource>(json!({"name": "cpus"})).is_err());
    assert!(serde_json::from_value::<TaskStatus>(
        json!({"task_id": null, "state": "TASK_RUNNING"})
    )
    .is_err());
}

#[test]
fn unknown_enum_names_parse_as_unknown_and_known_ones_round_trip() {
    let state: TaskState = serde_json::from_value(json!("TASK_FROM_THE_FUTURE")).expect("ok");
    assert_eq!(state, TaskState::Unknown);
    assert_eq!(
        serde_json::to_value(TaskState::Unknown).expect("ok"),
        json!("TASK_UNKNOWN")
    );
    let reason: Reason = serde_json::from_value(json!("REASON_NEW")).expect("ok");
    assert_eq!(reason, Reason::Unknown);
    for s in TaskState::ALL {
        let v = serde_json::to_value(s).expect("ok");
        assert_eq!(serde_json::from_value::<TaskState>(v).expect("ok"), *s);
    }
    for r in Reason::ALL {
        assert_eq!(Reason::from_wire(r.as_str()), *r);
        assert!(r.as_str().starts_with("REASON_"));
    }
    assert_eq!(TaskState::Running.as_str(), "TASK_RUNNING");
    assert_eq!(OperationState::Finished.to_string(), "OPERATION_FINISHED");
    assert_eq!(Source::Master.as_str(), "SOURCE_MASTER");
    assert_eq!(CallType::UpdateFramework.as_str(), "UPDATE_FRAMEWORK");
    assert_eq!(CapabilityType::PartitionAware.as_str(), "PARTITION_AWARE");
    assert_eq!(DiskSourceType::Mount.as_str(), "MOUNT");
    assert_eq!(HealthCheckType::Http.as_str(), "HTTP");
}

#[test]
fn task_state_terminality_matches_mesos() {
    let terminal: Vec<TaskState> = TaskState::ALL
        .iter()
        .copied()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        vec![
            TaskState::Finished,
            TaskState::Failed,
            TaskState::Killed,
            TaskState::Error,
            TaskState::Lost,
            TaskState::Dropped,
            TaskState::Gone,
            TaskState::GoneByOperator
        ]
    );
    assert!(!TaskState::Unknown.is_terminal());
    assert!(!TaskState::Unreachable.is_terminal());
    assert_eq!(TaskState::ALL.len() + 1, 14);
}

#[test]
fn serialization_omits_unset_options_and_empty_lists() {
    let info = TaskInfo {
        name: "t".into(),
        task_id: TaskId::new("t"),
        agent_id: AgentId::new("a"),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&info).expect("ok"),
        json!({"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}})
    );
    let fw = FrameworkInfo::new("u", "n");
    assert_eq!(
        serde_json::to_value(&fw).expect("ok"),
        json!({"user": "u", "name": "n"})
    );
    assert_eq!(fw.effective_roles(), vec!["*"]);
    assert_eq!(fw.failover_timeout_secs(), 0.0);
}

#[test]
fn operation_status_uuid_is_an_object_while_task_status_uuid_is_bare_base64() {
    let raw = [7u8; 16];
    let op = OperationStatus {
        operation_id: Some(OperationId::new("op-1")),
        state: OperationState::Finished,
        uuid: Some(Uuid::new(raw)),
        agent_id: Some(AgentId::new(AGENT)),
        ..Default::default()
    };
    let event = scheduler::Event::update_operation_status(op);
    let (parsed, written): (scheduler::Event, Value) =
        round_trip(&serde_json::to_value(&event).expect("ok"));
    assert_eq!(parsed, event);
    let status = &written["update_operation_status"]["status"];
    assert_eq!(status["state"], "OPERATION_FINISHED");
    assert_eq!(status["uuid"]["value"], "BwcHBwcHBwcHBwcHBwcHBw==");

    let task = TaskStatus {
        uuid: Some(Bytes::from(raw)),
        ..TaskStatus::new("t", TaskState::Running)
    };
    let written = serde_json::to_value(&task).expect("ok");
    assert_eq!(written["uuid"], "BwcHBwcHBwcHBwcHBwcHBw==");
}

#[test]
fn bytes_accept_unpadded_base64_and_reject_garbage() {
    let b: Bytes = serde_json::from_value(json!("aGk")).expect("unpadded ok");
    assert_eq!(b.as_slice(), b"hi");
    assert_eq!(serde_json::to_value(&b).expect("ok"), json!("aGk="));
    assert!(serde_json::from_value::<Bytes>(json!("not base64!")).is_err());
}

#[test]
fn call_validation_names_the_missing_payload() {
    let fid = FrameworkId::new(FW);
    let accept = scheduler::Call::new(CallType::Accept).with_framework_id(fid.clone());
    assert_eq!(
        accept.validate(),
        Err("Expecting 'accept' to be present".to_string())
    );
    let no_fid = scheduler::Call::new(CallType::Decline);
    assert_eq!(
        no_fid.validate(),
        Err("Expecting 'framework_id' to be present".to_string())
    );
    let sub = scheduler::Call::new(CallType::Subscribe);
    assert_eq!(
        sub.validate(),
        Err("Expecting 'subscribe' to be present".to_string())
    );
    assert_eq!(scheduler::Call::teardown(fid.clone()).validate(), Ok(()));
    assert_eq!(
        scheduler::Call::revive(fid.clone(), vec![]).validate(),
        Ok(())
    );
    let short_uuid = scheduler::Call::acknowledge(
        fid.clone(),
        AgentId::new("a"),
        TaskId::new("t"),
        Bytes::from(&b"short"[..]),
    );
    assert!(short_uuid.validate().is_err());

    let mut info = FrameworkInfo::new("u", "n");
    info.id = Some(FrameworkId::new("other"));
    let mut resub = scheduler::Call::subscribe(info);
    assert_eq!(resub.framework_id, Some(FrameworkId::new("other")));
    assert_eq!(resub.validate(), Ok(()));
    resub.framework_id = Some(fid);
    assert!(resub.validate().is_err());
}

#[test]
fn call_validation_refuses_an_id_that_could_name_another_directory_and_says_which() {
    let fid = FrameworkId::new(FW);
    let mut info = FrameworkInfo::new("u", "n");
    info.id = Some(FrameworkId::new(""));
    assert_eq!(
        scheduler::Call::subscribe(info).validate(),
        Err("'subscribe.framework_info.id' is not a valid ID: ID must not be empty".to_string())
    );
    assert_eq!(
        scheduler::Call::teardown(FrameworkId::new("a/b")).validate(),
        Err("'framework_id' is not a valid ID: 'a/b' contains invalid characters".to_string())
    );
    let kill = scheduler::Call::kill(fid.clone(), TaskId::new(".."), None, None);
    assert_eq!(
        kill.validate(),
        Err("'kill.task_id' is not a valid ID: '..' is disallowed".to_string())
    );
    let ack = scheduler::Call::acknowledge(
        fid.clone(),
        AgentId::new("x".repeat(256)),
        TaskId::new("t"),
        Bytes::from(&[0u8; 16][..]),
    );
    assert_eq!(
        ack.validate(),
        Err(
            "'acknowledge.agent_id' is not a valid ID: ID must not be greater than 255 characters"
                .to_string()
        )
    );
    let update = executor::Call::heartbeat(fid, ExecutorId::new("."));
    assert_eq!(
        update.validate(),
        Err("'executor_id' is not a valid ID: '.' is disallowed".to_string())
    );
    let gone = master::Call::mark_agent_gone(AgentId::new("a\0"));
    assert_eq!(
        gone.validate(),
        Err(
            "'mark_agent_gone.agent_id' is not a valid ID: 'a\\u{0}' contains invalid characters"
                .to_string()
        )
    );
}

#[test]
fn scheduler_events_built_by_constructors_carry_their_payload_key() {
    let cases = vec![
        (scheduler::Event::offers(vec![]), "OFFERS", "offers"),
        (
            scheduler::Event::rescind(OfferId::new("o")),
            "RESCIND",
            "rescind",
        ),
        (scheduler::Event::error("bye"), "ERROR", "error"),
        (
            scheduler::Event::failure(Some(AgentId::new("a")), None, Some(9)),
            "FAILURE",
            "failure",
        ),
        (
            scheduler::Event::message(AgentId::new("a"), ExecutorId::new("e"), Bytes::from("x")),
            "MESSAGE",
            "message",
        ),
    ];
    for (event, type_, key) in cases {
        let v = serde_json::to_value(&event).expect("ok");
        assert_eq!(v["type"], type_);
        assert!(v.get(key).is_some(), "{type_} lacks '{key}'");
        let back: scheduler::Event = serde_json::from_value(v).expect("ok");
        assert_eq!(back, event);
    }
}

#[test]
fn executor_api_calls_and_events_round_trip() {
    use cairn_proto::executor;
    let fid = FrameworkId::new(FW);
    let eid = ExecutorId::new("kv-0-exec");
    let mut status = TaskStatus::new("kv-0-server", TaskState::Running);
    status.uuid = Some(Bytes::from([1u8; 16]));
    status.source = Some(Source::Executor);
    let update = executor::Call::update(fid.clone(), eid.clone(), status);
    assert_eq!(update.validate(), Ok(()));
    let (back, written): (executor::Call, Value) =
        round_trip(&serde_json::to_value(&update).expect("ok"));
    assert_eq!(back, update);
    assert_eq!(written["type"], "UPDATE");
    assert_eq!(written["executor_id"]["value"], "kv-0-exec");

    let sub = executor::Call::subscribe(fid.clone(), eid.clone(), Default::default());
    assert_eq!(
        serde_json::to_value(&sub).expect("ok")["subscribe"],
        json!({})
    );
    assert!(
        executor::Call::new(executor::CallType::Update, fid.clone(), eid.clone())
            .validate()
            .is_err()
    );

    let events = vec![
        executor::Event::subscribed(
            ExecutorInfo {
                executor_id: eid.clone(),
                type_: Some(ExecutorType::Default),
                ..Default::default()
            },
            FrameworkInfo::new("u", "n"),
            AgentInfo {
                hostname: "127.0.0.2".into(),
                ..Default::default()
            },
            ContainerId::nested(ContainerId::new("parent"), "child"),
        ),
        executor::Event::launch_group(TaskGroupInfo::default()),
        executor::Event::kill(
            TaskId::new("t"),
            Some(KillPolicy::grace_period(DurationInfo::from_nanos(5))),
        ),
        executor::Event::acknowledged(TaskId::new("t"), Bytes::from([2u8; 16])),
        executor::Event::shutdown(),
        executor::Event::heartbeat(),
    ];
    for event in events {
        let v = serde_json::to_value(&event).expect("ok");
        let (back, _): (executor::Event, Value) = round_trip(&v);
        assert_eq!(back, event);
    }
}

#[test]
fn operator_responses_round_trip() {
    use cairn_proto::master;
    let agent = master::Agent {
        agent_info: AgentInfo {
            hostname: "127.0.0.2".into(),
            port: Some(5051),
            id: Some(AgentId::new(AGENT)),
            resources: Resources::parse("cpus:2;mem:1024").expect("ok").into_vec(),
            ..Default::default()
        },
        active: true,
        version: MESOS_VERSION.into(),
        capabilities: vec![AgentCapabilityType::MultiRole.into()],
        ..Default::default()
    };
    let response = master::Response::get_agents(master::GetAgents {
        agents: vec![agent],
        recovered_agents: vec![],
    });
    let (back, written): (master::Response, Value) =
        round_trip(&serde_json::to_value(&response).expect("ok"));
    assert_eq!(back, response);
    assert_eq!(written["type"], "GET_AGENTS");
    assert_eq!(written["get_agents"]["agents"][0]["version"], "1.11.0");

    let call: master::Call = serde_json::from_value(json!({
        "type": "RESERVE_RESOURCES",
        "reserve_resources": {"agent_id": {"value": AGENT}, "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
             "reservations": [{"type": "DYNAMIC", "role": "kv", "principal": "ops"}]}]}
    }))
    .expect("parses");
    assert_eq!(call.type_, master::CallType::ReserveResources);
    assert_eq!(call.validate(), Ok(()));
    let unknown: master::Call = serde_json::from_value(json!({"type": "NEW_THING"})).expect("ok");
    assert_eq!(unknown.type_, master::CallType::Unknown);
    assert_eq!(
        master::Call::new(master::CallType::MarkAgentGone).validate(),
        Err("Expecting 'mark_agent_gone' to be present".to_string())
    );

    let master_info: MasterInfo =
        serde_json::from_value(json!({"id": "m", "ip": 16777343})).expect("ok");
    assert_eq!(master_info.port, 5050);
}

#[test]
fn ids_display_as_their_value_and_nested_containers_show_their_parent() {
    assert_eq!(TaskId::new("t-1").to_string(), "t-1");
    assert_eq!(
        ContainerId::nested(ContainerId::new("p"), "c").to_string(),
        "p.c"
    );
    let mut ids = [AgentId::new("b"), AgentId::new("a")];
    ids.sort();
    assert_eq!(ids[0].as_str(), "a");
}

#[test]
fn labels_compare_regardless_of_order_and_insert_replaces() {
    let a = Labels::from_pairs([("x", "1"), ("y", "2")]);
    let b = Labels::from_pairs([("y", "2"), ("x", "1")]);
    assert_eq!(a, b);
    let mut c = a.clone();
    c.insert("x", "3");
    assert_eq!(c.get("x"), Some("3"));
    assert_ne!(a, c);
    assert_eq!(a.get("missing"), None);
}

#[test]
fn executor_updates_must_be_reliable_executor_sourced_and_past_staging() {
    use cairn_proto::executor;
    let fid = FrameworkId::new(FW);
    let eid = ExecutorId::new("e");
    let status = |f: &dyn Fn(&mut TaskStatus)| {
        let mut s = TaskStatus::new("t", TaskState::Running);
        s.uuid = Some(Bytes::from([3u8; 16]));
        s.source = Some(Source::Executor);
        f(&mut s);
        executor::Call::update(fid.clone(), eid.clone(), s).validate()
    };
    assert_eq!(status(&|_| {}), Ok(()));
    assert_eq!(
        status(&|s| s.uuid = None),
        Err("Expecting 'uuid' to be present".to_string())
    );
    assert!(status(&|s| s.uuid = Some(Bytes::from(&b"x"[..]))).is_err());
    let err = status(&|s| s.source = Some(Source::Agent)).expect_err("wrong source");
    assert!(err.contains("SOURCE_EXECUTOR"), "{err}");
    assert!(status(&|s| s.source = None).is_err());
    assert!(status(&|s| s.state = TaskState::Staging).is_err());
    assert!(status(&|s| s.executor_id = Some(ExecutorId::new("other"))).is_err());
    assert_eq!(
        status(&|s| s.executor_id = Some(ExecutorId::new("e"))),
        Ok(())
    );
}
