//! Resource arithmetic and reservation formats, as Mesos defines them.

use cairn_proto::*;
use serde_json::json;

fn dynamic(role: &str, principal: &str) -> ReservationInfo {
    ReservationInfo::dynamic(role).with_principal(principal)
}

fn reserved_cpus(value: f64, labels: &[(&str, &str)]) -> Resource {
    let mut reservation = dynamic("kv", "kv-principal");
    if !labels.is_empty() {
        reservation = reservation.with_labels(Labels::from_pairs(labels.iter().copied()));
    }
    Resource::scalar("cpus", value).with_reservation(reservation)
}

// --- reservation formats ----------------------------------------------------

#[test]
fn legacy_dynamic_reservation_converts_to_a_one_entry_stack() {
    let legacy: Resource = serde_json::from_value(json!({
        "name": "disk", "type": "SCALAR", "scalar": {"value": 512.0},
        "role": "kv",
        "reservation": {"principal": "kv-principal", "labels": {"labels": [{"key": "pod", "value": "kv-0"}]}}
    }))
    .expect("parses");
    assert!(legacy.validate().is_ok());
    assert!(legacy.is_dynamically_reserved());
    assert_eq!(legacy.reservation_role(), Some("kv"));

    let refined = legacy.to_refined_format();
    assert_eq!(refined.role, None);
    assert_eq!(refined.reservation, None);
    assert_eq!(
        refined.reservations,
        vec![dynamic("kv", "kv-principal").with_labels(Labels::from_pairs([("pod", "kv-0")]))]
    );
    assert!(refined.validate().is_ok());
    assert_eq!(refined.to_legacy_format(), legacy);
}

#[test]
fn legacy_static_role_converts_to_a_static_entry_and_back() {
    let legacy = Resource {
        role: Some("eng".into()),
        ..Resource::scalar("cpus", 2.0)
    };
    let refined = legacy.to_refined_format();
    assert_eq!(refined.reservations, vec![ReservationInfo::static_("eng")]);
    assert!(refined.is_statically_reserved());
    let back = refined.to_legacy_format();
    assert_eq!(back.role.as_deref(), Some("eng"));
    assert_eq!(back.reservation, None);
    assert!(back.reservations.is_empty());
    assert_eq!(back, legacy);
}

#[test]
fn unreserved_star_role_converts_to_an_empty_stack_and_back_to_star() {
    let legacy = Resource {
        role: Some("*".into()),
        ..Resource::scalar("mem", 64.0)
    };
    let refined = legacy.to_refined_format();
    assert!(refined.reservations.is_empty());
    assert_eq!(refined.role, None);
    assert!(refined.is_unreserved());
    assert_eq!(refined.to_legacy_format().role.as_deref(), Some("*"));
    let written = serde_json::to_value(refined.to_legacy_format()).expect("ok");
    assert_eq!(written["role"], "*");
    assert!(written.get("reservation").is_none());
}

#[test]
fn refined_dynamic_top_entry_becomes_legacy_role_plus_reservation() {
    let refined = Resource::scalar("cpus", 1.0)
        .with_reservation(ReservationInfo::static_("eng"))
        .with_reservation(dynamic("eng/kv", "p"));
    assert!(refined.validate().is_ok());
    let legacy = refined.to_legacy_format();
    assert_eq!(legacy.role.as_deref(), Some("eng/kv"));
    assert_eq!(
        legacy.reservation,
        Some(ReservationInfo {
            principal: Some("p".into()),
            ..Default::default()
        })
    );
    let written = serde_json::to_value(&legacy).expect("ok");
    assert_eq!(written["reservation"], json!({"principal": "p"}));
    assert!(written.get("reservations").is_none());
}

#[test]
fn the_endpoint_format_carries_both_forms_when_the_stack_has_one_entry() {
    let reserved = reserved_cpus(1.0, &[("a", "b")]);
    let written = serde_json::to_value(reserved.to_endpoint_format()).expect("ok");
    assert_eq!(written["role"], "kv");
    assert_eq!(
        written["reservation"],
        json!({"principal": "kv-principal", "labels": {"labels": [{"key": "a", "value": "b"}]}})
    );
    assert_eq!(written["reservations"][0]["role"], "kv");
    assert_eq!(written["reservations"][0]["type"], "DYNAMIC");

    let unreserved = serde_json::to_value(Resource::scalar("mem", 64.0).to_endpoint_format());
    assert_eq!(unreserved.expect("ok")["role"], "*");

    // A static reservation has a role and no `reservation`; a refined stack has no legacy form.
    let fixed = Resource::scalar("cpus", 1.0).with_reservation(ReservationInfo::static_("eng"));
    let fixed = fixed.to_endpoint_format();
    assert_eq!(fixed.role.as_deref(), Some("eng"));
    assert_eq!(fixed.reservation, None);
    let stacked = Resource::scalar("cpus", 1.0)
        .with_reservation(ReservationInfo::static_("eng"))
        .with_reservation(dynamic("eng/kv", "p"))
        .to_endpoint_format();
    assert_eq!((stacked.role, stacked.reservation), (None, None));
    assert_eq!(stacked.reservations.len(), 2);
}

#[test]
fn a_resource_in_the_endpoint_format_is_taken_back_and_loses_its_legacy_fields() {
    // What GET_AGENTS or /state answers, sent back in an operation or an operator call.
    for refined in [
        reserved_cpus(1.0, &[("a", "b")]),
        Resource::scalar("cpus", 1.0).with_reservation(ReservationInfo::static_("eng")),
        Resource::scalar("mem", 64.0),
    ] {
        let endpoint = refined.to_endpoint_format();
        assert!(endpoint.validate().is_ok(), "{endpoint:?}");
        assert_eq!(endpoint.to_refined_format(), refined);
    }
    // Legacy fields that say something else than the stack are still a mix.
    let mut other_role = reserved_cpus(1.0, &[]).to_endpoint_format();
    other_role.role = Some("web".into());
    assert!(matches!(
        other_role.validate_format(),
        Err(ResourceError::MixedFormat { .. })
    ));
    let mut other_principal = reserved_cpus(1.0, &[]).to_endpoint_format();
    other_principal.reservation = Some(ReservationInfo::default().with_principal("someone"));
    assert!(other_principal.validate_format().is_err());
}

#[test]
fn refined_input_passes_through_refinement_unchanged() {
    let refined = reserved_cpus(1.0, &[("a", "b")]);
    assert_eq!(refined.to_refined_format(), refined);
}

#[test]
fn a_resource_mixing_both_formats_is_rejected() {
    let mixed = Resource {
        role: Some("kv".into()),
        ..reserved_cpus(1.0, &[])
    };
    let err = mixed.validate_format().expect_err("mixed format");
    assert!(matches!(err, ResourceError::MixedFormat { .. }));
    assert!(err.to_string().contains("'role' must not be set"), "{err}");

    let mixed_reservation = Resource {
        reservation: Some(ReservationInfo::default()),
        ..reserved_cpus(1.0, &[])
    };
    assert!(mixed_reservation.validate_format().is_err());

    let typed_legacy = Resource {
        role: Some("kv".into()),
        reservation: Some(dynamic("kv", "p")),
        ..Resource::scalar("cpus", 1.0)
    };
    let err = typed_legacy.validate_format().expect_err("typed legacy");
    assert!(err.to_string().contains("'type' or 'role'"), "{err}");

    let unreserved_with_reservation = Resource {
        role: Some("*".into()),
        reservation: Some(ReservationInfo::default()),
        ..Resource::scalar("cpus", 1.0)
    };
    assert!(unreserved_with_reservation.validate_format().is_err());
}

#[test]
fn a_stack_must_refine_toward_child_roles_with_only_the_first_entry_static() {
    let not_child = Resource::scalar("cpus", 1.0)
        .with_reservation(dynamic("eng", "p"))
        .with_reservation(dynamic("engineering", "p"));
    let err = not_child.validate().expect_err("not a child role");
    assert!(err.to_string().contains("does not refine 'eng'"), "{err}");

    let late_static = Resource::scalar("cpus", 1.0)
        .with_reservation(dynamic("eng", "p"))
        .with_reservation(ReservationInfo::static_("eng/a"));
    assert!(late_static.validate().is_err());
}

#[test]
fn a_persistent_volume_must_be_reserved_disk() {
    let unreserved = Resource::scalar("disk", 10.0).with_persistence("v1", None, "data");
    let err = unreserved.validate().expect_err("unreserved volume");
    assert!(err.to_string().contains("reserved"), "{err}");
    let on_cpus = reserved_cpus(1.0, &[]).with_persistence("v1", None, "data");
    assert!(on_cpus.validate().is_err());
}

// --- arithmetic ---------------------------------------------------------------

#[test]
fn reservations_with_the_same_labels_merge_and_with_different_labels_stay_apart() {
    let mut r = Resources::new();
    r.add(&reserved_cpus(1.0, &[("pod", "a")]));
    r.add(&reserved_cpus(0.5, &[("pod", "a")]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].scalar_value(), 1.5);

    r.add(&reserved_cpus(2.0, &[("pod", "b")]));
    assert_eq!(r.len(), 2);
    assert_eq!(r.scalar("cpus"), 3.5);

    r.add(&Resource::scalar("cpus", 4.0));
    assert_eq!(r.len(), 3);
    assert_eq!(r.unreserved().scalar("cpus"), 4.0);
    assert_eq!(r.reserved_to("kv").scalar("cpus"), 3.5);
}

#[test]
fn label_order_does_not_make_reservations_different() {
    let mut r = Resources::new();
    r.add(&reserved_cpus(1.0, &[("a", "1"), ("b", "2")]));
    r.add(&reserved_cpus(1.0, &[("b", "2"), ("a", "1")]));
    assert_eq!(r.len(), 1);
}

#[test]
fn different_allocation_roles_do_not_merge_until_allocation_info_is_stripped() {
    let r: Resources = vec![
        Resource::scalar("mem", 1.0).with_allocation_role("a"),
        Resource::scalar("mem", 2.0).with_allocation_role("b"),
    ]
    .into();
    assert_eq!(r.len(), 2);
    assert_eq!(r.allocated_to("a").scalar("mem"), 1.0);
    let stripped = r.without_allocation_info();
    assert_eq!(stripped.len(), 1);
    assert_eq!(stripped.scalar("mem"), 3.0);
    assert_eq!(
        stripped
            .with_allocation_info("c")
            .allocated_to("c")
            .scalar("mem"),
        3.0
    );
}

#[test]
fn legacy_and_refined_forms_of_the_same_reservation_combine() {
    let legacy = Resource {
        role: Some("kv".into()),
        reservation: Some(ReservationInfo {
            principal: Some("kv-principal".into()),
            ..Default::default()
        }),
        ..Resource::scalar("cpus", 1.0)
    };
    let mut r = Resources::new();
    r.add(&legacy);
    r.add(&reserved_cpus(1.0, &[]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].scalar_value(), 2.0);
    assert!(r[0].role.is_none(), "stored in the refined format");
    assert!(r.subtract(&legacy).is_ok());
    assert_eq!(r.scalar("cpus"), 1.0);
}

#[test]
fn scalars_are_fixed_point_with_three_decimals() {
    let mut r = Resources::new();
    r.add(&Resource::scalar("cpus", 0.1));
    r.add(&Resource::scalar("cpus", 0.2));
    assert_eq!(r.scalar("cpus"), 0.3);
    assert!(r.contains_resource(&Resource::scalar("cpus", 0.3)));
    assert!(r.contains_resource(&Resource::scalar("cpus", 0.3004)));
    assert!(!r.contains_resource(&Resource::scalar("cpus", 0.301)));
    r.subtract(&Resource::scalar("cpus", 0.3))
        .expect("contained");
    assert!(r.is_empty(), "an exact zero is dropped: {r}");
    assert!(scalars_equal(0.1 + 0.2, 0.3));
    assert_eq!(round_scalar(1.23456), 1.235);
}

#[test]
fn subtracting_more_than_is_there_fails_and_changes_nothing() {
    let mut r: Resources =
        vec![Resource::scalar("cpus", 1.0), Resource::scalar("mem", 10.0)].into();
    let before = r.clone();
    let err = r
        .subtract(&Resource::scalar("cpus", 1.5))
        .expect_err("too much");
    assert!(matches!(err, ResourceError::NotContained { .. }));
    assert!(err.to_string().contains("cpus:1.5"), "{err}");
    assert_eq!(r, before);

    let wrong_role = reserved_cpus(0.5, &[]);
    assert!(r.subtract(&wrong_role).is_err());

    let all = vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 11.0)];
    assert!(r.subtract_all(&all).is_err());
    assert_eq!(r, before, "a failed subtract_all is atomic");
    r.subtract_all(&all[..1]).expect("fits");
    assert_eq!(r.scalar("cpus"), 0.5);
}

#[test]
fn contains_checks_every_resource_and_kind() {
    let have = Resources::parse("cpus:4;mem:1024;ports:[31000-31010,31020-31030];zones:{a,b}")
        .expect("parses");
    let want = Resources::parse("cpus:2;mem:1024;ports:[31005-31010,31020-31020];zones:{b}")
        .expect("parses");
    assert!(have.contains(&want));
    assert!(!want.contains(&have));
    assert!(!have.contains(&Resources::parse("ports:[31009-31021]").expect("parses")));
    assert!(!have.contains(&Resources::parse("gpus:1").expect("parses")));
    assert!(have.contains(&Resources::new()));
}

#[test]
fn ranges_union_coalesces_adjacent_and_overlapping_intervals() {
    let mut r = Resources::new();
    r.add(&Resource::ranges("ports", &[(31000, 31004)]));
    r.add(&Resource::ranges(
        "ports",
        &[(31005, 31009), (31100, 31200)],
    ));
    r.add(&Resource::ranges("ports", &[(31150, 31250)]));
    assert_eq!(r.len(), 1);
    assert_eq!(
        r.ranges("ports"),
        vec![Range::new(31000, 31009), Range::new(31100, 31250)]
    );
}

#[test]
fn subtracting_ranges_punches_holes_and_drops_empty_results() {
    let mut r: Resources = vec![Resource::ranges("ports", &[(1, 10)])].into();
    r.subtract(&Resource::ranges("ports", &[(3, 4), (8, 8)]))
        .expect("contained");
    assert_eq!(
        r.ranges("ports"),
        vec![Range::new(1, 2), Range::new(5, 7), Range::new(9, 10)]
    );
    assert!(r.subtract(&Resource::ranges("ports", &[(2, 3)])).is_err());
    r.subtract(&Resource::ranges("ports", &[(1, 2), (5, 7), (9, 10)]))
        .expect("all of it");
    assert!(r.is_empty());
}

#[test]
fn range_math_handles_edges_of_u64() {
    let all = [Range::new(0, u64::MAX)];
    assert_eq!(
        ranges::subtract(&all, &[Range::new(0, 0), Range::new(u64::MAX, u64::MAX)]),
        vec![Range::new(1, u64::MAX - 1)]
    );
    assert_eq!(ranges::count(&all), u64::MAX);
    assert_eq!(
        ranges::normalize(&[Range::new(5, 9), Range::new(0, 4), Range::new(7, 3)]),
        vec![Range::new(0, 9)]
    );
    assert!(ranges::contains(&all, &[Range::new(10, 20)]));
    assert!(!ranges::contains(
        &[Range::new(10, 20)],
        &[Range::new(9, 10)]
    ));
}

#[test]
fn persistent_volumes_never_merge_and_subtract_only_whole() {
    let volume = |id: &str| {
        Resource::scalar("disk", 100.0)
            .with_reservation(dynamic("kv", "p"))
            .with_persistence(id, Some("p"), "data")
    };
    let mut r = Resources::new();
    r.add(&volume("v1"));
    r.add(&volume("v1"));
    r.add(&volume("v2"));
    assert_eq!(r.len(), 3);
    assert_eq!(r.scalar("disk"), 300.0);
    assert_eq!(r.persistent_volumes().len(), 3);

    let partial = Resource::scalar("disk", 50.0)
        .with_reservation(dynamic("kv", "p"))
        .with_persistence("v2", Some("p"), "data");
    assert!(r.subtract(&partial).is_err());
    r.subtract(&volume("v2")).expect("whole volume");
    assert_eq!(r.len(), 2);
    assert!(!r.contains_resource(&volume("v2")));
    assert!(r.contains_resource(&volume("v1")));
}

#[test]
fn mount_disks_are_atomic_while_root_disk_merges() {
    let mount = Resource::scalar("disk", 1000.0).with_disk_source(DiskSource::mount("/mnt/a"));
    let mut r = Resources::new();
    r.add(&mount);
    r.add(&mount);
    assert_eq!(r.len(), 2);
    let half = Resource::scalar("disk", 500.0).with_disk_source(DiskSource::mount("/mnt/a"));
    assert!(r.subtract(&half).is_err());
    r.subtract(&mount).expect("whole disk");
    assert_eq!(r.len(), 1);
    r.add(&Resource::scalar("disk", 5.0));
    r.add(&Resource::scalar("disk", 5.0));
    assert_eq!(r.len(), 2);
}

#[test]
fn shared_resources_stay_separate_copies() {
    let shared = Resource::scalar("disk", 10.0)
        .with_reservation(dynamic("kv", "p"))
        .with_persistence("s", None, "shared")
        .with_shared();
    let mut r = Resources::new();
    r.add(&shared);
    r.add(&shared);
    assert_eq!(r.len(), 2);
    r.subtract(&shared).expect("one copy");
    assert!(r.contains_resource(&shared));
}

#[test]
fn zero_and_malformed_resources_are_not_added() {
    let mut r = Resources::new();
    r.add(&Resource::scalar("cpus", 0.0));
    r.add(&Resource::scalar("cpus", 0.0004));
    r.add(&Resource::ranges("ports", &[]));
    r.add(&Resource::scalar("cpus", f64::NAN));
    r.add(&Resource::scalar("cpus", -1.0));
    r.add(&Resource {
        scalar: None,
        ..Resource::scalar("cpus", 1.0)
    });
    assert!(r.is_empty(), "{r}");
}

#[test]
fn an_unnormalized_hand_built_list_still_subtracts_across_entries() {
    let mut r = Resources(vec![
        Resource::scalar("cpus", 1.0),
        Resource::scalar("cpus", 1.0),
    ]);
    r.subtract(&Resource::scalar("cpus", 1.5))
        .expect("2 cpus in total");
    assert_eq!(r.scalar("cpus"), 0.5);
}

#[test]
fn unreserving_pops_the_top_reservation_and_destroy_strips_the_volume() {
    let volume = Resource::scalar("disk", 10.0)
        .with_reservation(ReservationInfo::static_("eng"))
        .with_reservation(dynamic("eng/kv", "p"))
        .with_persistence("v", None, "data");
    let plain = volume.without_volume();
    assert!(!plain.is_persistent_volume());
    assert!(plain.disk.is_none());
    let popped = plain.without_top_reservation();
    assert_eq!(popped.reservation_role(), Some("eng"));
    assert!(popped.is_statically_reserved());
    assert!(popped.without_top_reservation().is_unreserved());
}

#[test]
fn resources_equality_ignores_order_and_splitting() {
    let a: Resources = vec![Resource::scalar("cpus", 1.0), Resource::scalar("mem", 2.0)].into();
    let b = Resources(vec![
        Resource::scalar("mem", 2.0),
        Resource::scalar("cpus", 0.5),
        Resource::scalar("cpus", 0.5),
    ]);
    assert_eq!(a, b);
    assert_ne!(a, Resources::parse("cpus:1").expect("ok"));
}

#[test]
fn display_names_reservations_and_volumes() {
    let volume = Resource::scalar("disk", 512.0)
        .with_allocation_role("kv")
        .with_reservation(dynamic("kv", "p").with_labels(Labels::from_pairs([("pod", "kv-0")])))
        .with_persistence("kv-0-data", None, "data");
    assert_eq!(
        volume.to_string(),
        "disk(allocated: kv)(reservations: [(DYNAMIC,kv,p,{pod: kv-0})])[kv-0-data:data]:512"
    );
    let r = Resources::parse("cpus:1.5;ports:[1-2]").expect("ok");
    assert_eq!(r.to_string(), "cpus:1.5; ports:[1-2]");
}

// --- parsing ------------------------------------------------------------------

#[test]
fn agent_resource_flags_parse_into_scalars_ranges_sets_and_static_reservations() {
    let r = Resources::parse(
        " cpus:4; mem:8192 ;disk:40000;ports:[31000-32000, 33000-33001];zones:{a, b};gpus(ml):2;cpus(*):1;",
    )
    .expect("parses");
    assert_eq!(r.scalar("cpus"), 5.0);
    assert_eq!(r.scalar("mem"), 8192.0);
    assert_eq!(r.scalar("disk"), 40000.0);
    assert_eq!(
        r.ranges("ports"),
        vec![Range::new(31000, 32000), Range::new(33000, 33001)]
    );
    assert_eq!(r.set("zones"), vec!["a", "b"]);
    let gpus = r.reserved_to("ml");
    assert_eq!(gpus.scalar("gpus"), 2.0);
    assert!(gpus[0].is_statically_reserved());
    assert_eq!(r.unreserved().scalar("cpus"), 5.0);
}

#[test]
fn agent_resources_also_parse_from_a_json_array() {
    let r = Resources::parse(r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]"#)
        .expect("parses");
    assert_eq!(r.scalar("cpus"), 2.0);
    assert!(Resources::parse(r#"[{"name":"cpus"}]"#).is_err());
}

#[test]
fn bad_agent_resource_flags_name_the_token_and_the_reason() {
    let cases = [
        ("cpus:4;mem", "'mem'", "expected 'name:value'"),
        ("cpus:abc", "'cpus:abc'", "'abc' is not a number"),
        ("cpus:-1", "'cpus:-1'", "negative"),
        ("cpus:inf", "'cpus:inf'", "not a finite number"),
        ("cpus:", "'cpus:'", "missing value"),
        (":4", "':4'", "missing resource name"),
        ("ports:[5-3]", "'ports:[5-3]'", "begin > end"),
        ("ports:[1-x]", "'ports:[1-x]'", "'x' in range '1-x'"),
        ("ports:[1-2", "'ports:[1-2'", "closing ']'"),
        ("ports:[1-2,,4-5]", "'ports:[1-2,,4-5]'", "empty range"),
        ("zones:{a,b", "'zones:{a,b'", "closing '}'"),
        ("zones:{a,,b}", "'zones:{a,,b}'", "empty item"),
        ("cpus(:1", "'cpus(:1'", "closing ')'"),
        ("cpus():1", "'cpus():1'", "empty role"),
        ("cpus(a b):1", "'cpus(a b):1'", "whitespace"),
        ("cpus(..):1", "'cpus(..):1'", "'.' and '..'"),
        ("my cpus:1", "'my cpus:1'", "resource name contains"),
    ];
    for (input, token, reason) in cases {
        let err = Resources::parse(input).expect_err(input);
        let text = err.to_string();
        assert!(
            matches!(err, ResourceError::Parse { .. }),
            "{input}: {text}"
        );
        assert!(text.contains(token), "{input}: {text}");
        assert!(text.contains(reason), "{input}: {text}");
    }
}

#[test]
fn an_empty_resource_string_is_no_resources() {
    assert!(Resources::parse("").expect("ok").is_empty());
    assert!(Resources::parse(" ; ;").expect("ok").is_empty());
    assert!(Resources::parse("ports:[]").expect("ok").is_empty());
}

#[test]
fn subtracting_many_at_once_gives_what_subtracting_one_by_one_gives() {
    // Goal: `subtract_each` (the allocator's fast path, found by a hash of the kind) agrees with
    // a loop of `subtract` on every kind the arithmetic knows: merged scalars, labels in
    // another order, legacy reservations, ranges, whole volumes, atomic disks, and what is
    // not there. Method: the same total minus the same list, both ways.
    let volume = |id: &str| {
        Resource::scalar("disk", 100.0)
            .with_reservation(dynamic("kv", "p"))
            .with_persistence(id, Some("p"), "data")
    };
    let mount = Resource::scalar("disk", 1000.0).with_disk_source(DiskSource::mount("/mnt/a"));
    let mut legacy = Resource::scalar("mem", 64.0);
    legacy.role = Some("kv".into());
    legacy.reservation = Some(ReservationInfo {
        principal: Some("kv-principal".into()),
        ..ReservationInfo::default()
    });
    let total: Resources = vec![
        Resource::scalar("cpus", 8.0),
        reserved_cpus(2.0, &[("pod", "a"), ("x", "1")]),
        reserved_cpus(2.0, &[("pod", "b")]),
        Resource::scalar("mem", 128.0).with_reservation(dynamic("kv", "kv-principal")),
        Resource::ranges("ports", &[(31000, 31100)]),
        volume("v1"),
        volume("v2"),
        mount.clone(),
    ]
    .into_iter()
    .collect();
    let take = vec![
        Resource::scalar("cpus", 1.5),
        reserved_cpus(0.5, &[("x", "1"), ("pod", "a")]),
        reserved_cpus(2.0, &[("pod", "b")]),
        legacy,
        Resource::ranges("ports", &[(31010, 31020)]),
        volume("v2"),
        volume("v3"),
        mount.clone(),
        mount,
        Resource::scalar("cpus", 100.0),
        Resource::scalar("cpus", 6.5),
    ];
    let mut one_by_one = total.clone();
    let refused_one_by_one = take
        .iter()
        .filter(|r| one_by_one.subtract(r).is_err())
        .count();
    let mut at_once = total.clone();
    let errors = at_once.subtract_each(&take);
    assert_eq!(at_once, one_by_one, "{at_once} vs {one_by_one}");
    assert_eq!(errors.len(), refused_one_by_one, "{errors:?}");
    assert_eq!(
        errors.len(),
        3,
        "v3, the second mount and 100 cpus are not there"
    );
    assert_eq!(at_once.unreserved().scalar("cpus"), 0.0);
    assert_eq!(at_once.reserved_to("kv").scalar("cpus"), 1.5);
    assert_eq!(at_once.reserved_to("kv").scalar("mem"), 64.0);
    assert!(at_once.contains_resource(&volume("v1")));
    assert!(!at_once.contains_resource(&volume("v2")));
}
