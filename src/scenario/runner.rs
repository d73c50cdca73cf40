//! Running a scenario as a case body: the script on its own thread with its clients and
//! servers in scope, and how what it throws becomes the case's outcome.

use super::client::Client;
use super::{engine, Scenario, ScriptOptions};
use rhai::{Array, Dynamic, EvalAltResult, FnPtr, Map, NativeCallContext, Position, Scope, AST};
use serde_json::Value;
use std::sync::Arc;
use trafficlight_actors::body::{blocking_body, SCRIPT_STACK_SIZE};
use trafficlight_actors::{CaseContext, Outcome, TestBody};

/// A verdict thrown through the script (assertion, `fail`, an adapter's error).
#[derive(Clone, Debug)]
pub struct Failure(pub Outcome);

/// Throws `outcome` out of the script.
pub fn throw(outcome: Outcome) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(Failure(outcome)), Position::NONE))
}

/// A plain runtime error (the case errors, with the script's position).
pub fn script_error(message: String) -> Box<EvalAltResult> {
    message.into()
}

/// The body that runs `scenario` for a case.
pub fn script_body(scenario: &Scenario, options: ScriptOptions) -> Arc<dyn TestBody> {
    let ast = scenario.ast.clone();
    let file = scenario.path.display().to_string();
    blocking_body(move |ctx| run(&ast, &file, ctx, options))
}

fn run(ast: &AST, file: &str, ctx: CaseContext, options: ScriptOptions) -> Outcome {
    let engine = engine::shared_engine();
    let _case = engine::CaseScope { ctx: ctx.clone(), file: file.into(), options }.enter();
    let tag: String = ctx.case_id.rsplit('-').next().unwrap_or("").chars().take(6).collect();
    let mut scope = Scope::new();
    for client in &ctx.clients {
        scope.push(client.name.clone(), Client::new(client.clone(), &tag, ctx.files_dir.clone()));
    }
    for server in &ctx.servers {
        let map = rhai::serde::to_dynamic(server).unwrap_or_default();
        scope.push(server.name.clone(), map);
    }
    match engine.run_ast_with_scope(&mut scope, ast) {
        Ok(()) => Outcome::Success,
        Err(e) => outcome_of(&e, file),
    }
}

/// `client.act(action, data)`: performs the action, returns the adapter's response.
pub fn act(ctx: &CaseContext, client: &mut Client, action: &str, data: Map) -> Result<Dynamic, Box<EvalAltResult>> {
    if ctx.cancel.is_cancelled() {
        return Err(throw(Outcome::Error("the test case has ended".into())));
    }
    let data: Value = rhai::serde::from_dynamic(&Dynamic::from_map(data))
        .map_err(|e| script_error(format!("the data of action '{action}' is not JSON-like: {e}")))?;
    ctx.log(format!("{}: {action} {data}", client.handle.name));
    match client.handle.perform_blocking(action, data) {
        Ok(response) => rhai::serde::to_dynamic(response),
        Err(e) => Err(throw(e.outcome())),
    }
}

/// `parallel([|| ..., || ...])`: runs the closures at once, returns their results in
/// order; the first failing branch (in order) fails the call.
pub fn parallel(
    scope: &engine::CaseScope,
    context: &NativeCallContext,
    branches: Array,
) -> Result<Array, Box<EvalAltResult>> {
    let (ctx, file) = (&scope.ctx, &*scope.file);
    let closures = branches
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let kind = b.type_name();
            b.try_cast::<FnPtr>().ok_or_else(|| {
                script_error(format!("parallel() takes a list of closures (|| ...); item {i} is {kind}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_clients_not_shared(&closures)?;
    let (done, finished) = std::sync::mpsc::channel();
    let results: Vec<Result<Dynamic, Box<EvalAltResult>>> = std::thread::scope(|s| {
        let handles: Vec<_> = closures
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let done = done.clone();
                let branch_scope = scope.clone();
                std::thread::Builder::new().stack_size(SCRIPT_STACK_SIZE).spawn_scoped(s, move || {
                    let _case = branch_scope.enter();
                    let result = f.call_within_context::<Dynamic>(context, ());
                    let _ = done.send((i, result.as_ref().err().map(|e| outcome_of(e, file))));
                    result
                })
            })
            .collect();
        drop(done);
        // The first branch to fail ends the case at once, so the others, still waiting on
        // their adapters, are cancelled instead of holding the test until its deadline.
        if let Some((_, Some(outcome))) = finished.iter().find(|(_, failure)| failure.is_some()) {
            ctx.conclude(outcome);
        }
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(script_error("a parallel() branch panicked".into()))),
                Err(e) => Err(script_error(format!("could not start a parallel() branch: {e}"))),
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Refuses a `parallel()` whose branches capture the same client: a client performs one
/// action at a time, and Rhai would otherwise quietly run those branches one by one.
fn check_clients_not_shared(closures: &[FnPtr]) -> Result<(), Box<EvalAltResult>> {
    let mut owner: Vec<(String, usize)> = Vec::new();
    for (branch, closure) in closures.iter().enumerate() {
        let mut names = Vec::new();
        for captured in closure.iter_curry() {
            client_names(captured, &mut names);
        }
        names.dedup();
        for name in names {
            if let Some((_, first)) = owner.iter().find(|(n, b)| *n == name && *b != branch) {
                return Err(throw(Outcome::Error(format!(
                    "'{name}' is used in two branches of one parallel() (branches {} and {}): a client performs one action at a time, so give each branch its own clients",
                    first + 1,
                    branch + 1
                ))));
            }
            owner.push((name, branch));
        }
    }
    Ok(())
}

/// The names of the clients in a captured value (a client, or arrays and maps of them).
fn client_names(value: &Dynamic, into: &mut Vec<String>) {
    let value = value.clone().flatten();
    if let Some(client) = value.clone().try_cast::<Client>() {
        into.push(client.handle.name.clone());
    } else if let Some(array) = value.clone().try_cast::<Array>() {
        array.iter().for_each(|v| client_names(v, into));
    } else if let Some(map) = value.try_cast::<Map>() {
        map.values().for_each(|v| client_names(v, into));
    }
}

/// `assert(cond, message)`.
pub fn check(cond: bool, message: impl FnOnce() -> String) -> Result<(), Box<EvalAltResult>> {
    if cond {
        Ok(())
    } else {
        Err(throw(Outcome::Failed(message())))
    }
}

/// `assert_eq(left, right)`: equal as data (maps, arrays, numbers, strings), or else as text.
pub fn check_equal(left: Dynamic, right: Dynamic, message: Option<&str>) -> Result<(), Box<EvalAltResult>> {
    let as_data = |d: &Dynamic| rhai::serde::from_dynamic::<Value>(d).ok();
    let equal = match (as_data(&left), as_data(&right)) {
        (Some(l), Some(r)) => l == r || (l.as_f64().is_some() && l.as_f64() == r.as_f64()),
        _ => left.type_name() == right.type_name() && left.to_string() == right.to_string(),
    };
    let prefix = message.map(|m| format!("{m}: ")).unwrap_or_default();
    check(equal, || format!("{prefix}assert_eq failed: left is {left:?}, right is {right:?}"))
}

/// The outcome of a script that threw `err`: its verdict, or an error naming where.
fn outcome_of(err: &EvalAltResult, file: &str) -> Outcome {
    // Where in the test it went wrong: the call site in the body, or, inside a closure (a
    // parallel() branch), the line in the closure, which is the test author's line too.
    let mut location = place(file, err.position());
    let mut root = err;
    let mut trail = Vec::new();
    while let EvalAltResult::ErrorInFunctionCall(name, source, inner, _) = root {
        let source = if source.is_empty() { file } else { source.as_str() };
        if name.starts_with("anon$") {
            if source == file {
                location = place(file, inner.position());
            }
        } else {
            trail.push(format!("in {name}() at {}", place(source, inner.position())));
        }
        root = inner;
    }
    let trail = if trail.is_empty() { String::new() } else { format!(" ({})", trail.join(", ")) };
    match root {
        EvalAltResult::ErrorRuntime(value, _) if value.is::<Failure>() => match value.clone().cast::<Failure>().0 {
            Outcome::Failed(m) => Outcome::Failed(format!("{m}\n  at {location}{trail}")),
            Outcome::Error(m) => Outcome::Error(format!("{m}\n  at {location}{trail}")),
            other => other,
        },
        EvalAltResult::ErrorTerminated(..) => {
            Outcome::Error(format!("the script was stopped at {location} because the test case ended (timed out)"))
        }
        EvalAltResult::ErrorDataRace(var, _) => Outcome::Error(format!(
            "'{var}' is used in two branches of one parallel() at {location}: a client performs one action at a time, so give each branch its own clients"
        )),
        other => Outcome::Error(format!("script error at {location}: {other}{trail}")),
    }
}

fn place(file: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{file}:{line}:{col}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.to_string(),
    }
}
