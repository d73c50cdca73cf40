//! Allocation races: an adapter may leave (report an error, fall silent) between the
//! allocator choosing it and the assignment reaching it. The adapter owns its lifecycle,
//! so it refuses; the case must then wait for another adapter, never start with a
//! finished one.

use actix::prelude::*;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use trafficlight_actors::adapter::{self, Assign};
use trafficlight_actors::allocator::{Allocator, Register, RegisterError, RunEnded, StartRun};
use trafficlight_actors::body::async_body;
use trafficlight_actors::case::{CaseSpec, Slot};
use trafficlight_actors::registry::Registry;
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::{ClientRequirement, Outcome, StaticServers, Timeouts};

fn one_slot_case(id: usize) -> CaseSpec {
    CaseSpec {
        id: format!("case-{id}"),
        test: "race".into(),
        slots: vec![Slot { name: "alice".into(), requirement: ClientRequirement::Type("web".into()) }],
        servers: None,
        timeout: None,
        body: async_body(|_| async { Outcome::Success }),
    }
}

fn allocator() -> (Addr<Allocator>, Registry) {
    let timeouts = Timeouts { exit_grace: Duration::ZERO, ..Timeouts::default() };
    let output = std::env::temp_dir().join(format!("trafficlight-races-{}", std::process::id()));
    let allocator = Allocator::new(timeouts, Arc::new(StaticServers::default()), output);
    let registry = allocator.registry();
    (allocator.start(), registry)
}

async fn register(allocator: &Addr<Allocator>, uuid: &str) {
    let registration = json!({"type": "web"}).as_object().unwrap().clone();
    allocator.send(Register { uuid: uuid.into(), registration, arbiter: None }).await.unwrap().unwrap();
}

fn broken() -> adapter::ReportError {
    adapter::ReportError { kind: "adapter".into(), details: "crashed".into(), path: String::new() }
}

#[actix_rt::test]
async fn a_finished_adapter_refuses_an_assignment_and_cannot_register_again() {
    let (allocator, registry) = allocator();
    register(&allocator, "a").await;
    let addr = registry.live("a").expect("registered");
    addr.send(broken()).await.unwrap();
    let case = one_slot_case(0);
    // An assignment proposed now (as the allocator would have, a moment before the
    // error) must be refused.
    let accepted = addr
        .send(Assign {
            case: trafficlight_actors::case::CaseActor::new(
                case,
                allocator.clone(),
                Arc::new(StaticServers::default()),
                Timeouts::default(),
                std::env::temp_dir(),
                trafficlight_actors::events::EventBus::default(),
            )
            .start(),
            case_id: "case-0".into(),
            client: "alice".into(),
            files_dir: std::env::temp_dir(),
        })
        .await
        // A finished adapter may already have retired (its actor stopped): the allocator
        // takes a closed mailbox for a refusal too.
        .unwrap_or(false);
    assert!(!accepted, "a finished adapter accepted an assignment");
    let registration = json!({"type": "web"}).as_object().unwrap().clone();
    let again = allocator.send(Register { uuid: "a".into(), registration, arbiter: None }).await.unwrap();
    assert_eq!(again, Err(RegisterError::Finished("a".into())));
}

/// Half the adapters break at the moment the run starts; every case must still end with
/// success, each run by an adapter that did not break (the others arrive later).
#[actix_rt::test]
async fn cases_never_start_with_adapters_that_left_during_allocation() {
    let (allocator, registry) = allocator();
    let n = 100;
    for i in 0..n {
        register(&allocator, &format!("early-{i}")).await;
    }
    // The errors are queued on the adapters before the run is queued on the allocator, so
    // the allocator decides while most of them are still on their way to it.
    let mut broke = HashSet::new();
    for i in (0..n).step_by(2) {
        let uuid = format!("early-{i}");
        registry.live(&uuid).unwrap().do_send(broken());
        broke.insert(uuid);
    }
    allocator.send(StartRun { id: "race".into(), cases: (0..n).map(one_slot_case).collect() }).await.unwrap().unwrap();
    for i in 0..n / 2 {
        register(&allocator, &format!("late-{i}")).await;
    }
    let report = tokio::time::timeout(Duration::from_secs(60), allocator.send(RunEnded)).await.unwrap().unwrap();
    assert_eq!(report.cases.len(), n);
    let mut used = HashSet::new();
    for case in &report.cases {
        assert_eq!(case.state, CaseState::Success, "{} ended {:?}: {:?}", case.id, case.state, case.errors);
        let uuid = case.slots[0].uuid.clone().expect("the case had an adapter");
        assert!(!broke.contains(&uuid), "{} started with {uuid}, which had reported an error", case.id);
        assert!(used.insert(uuid.clone()), "{uuid} ran two cases");
    }
}
