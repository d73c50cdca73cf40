//! The Rhai engine: its limits and sandbox, compiling with positions, and the built-ins a
//! case's script may call (bound to that case).

use super::client::{colour_name, Client, ScriptFile};
use super::{runner, Needs, ScenarioError, ScriptOptions};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, NativeCallContext, Scope, AST};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use trafficlight_actors::{CaseContext, Outcome};

/// Expression nesting allowed; debug builds hit Rhai's low defaults on ordinary scripts.
const MAX_EXPR_DEPTH: usize = 256;
/// Function call nesting allowed.
const MAX_CALL_LEVELS: usize = 128;
/// Largest string, array and map a script may build: generous for test data, small
/// enough that a runaway script fails before it eats the machine's memory.
const MAX_STRING_SIZE: usize = 64 * 1024 * 1024;
const MAX_COLLECTION_SIZE: usize = 1_000_000;

/// An engine with our limits and types, for compiling and for `needs()`.
pub fn checking_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_EXPR_DEPTH);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_string_size(MAX_STRING_SIZE);
    engine.set_max_array_size(MAX_COLLECTION_SIZE);
    engine.set_max_map_size(MAX_COLLECTION_SIZE);
    // The sandbox: `import` would otherwise read script files from disk.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.register_type_with_name::<Client>("Client");
    engine.register_type_with_name::<ScriptFile>("File");
    engine.register_type_with_name::<runner::Failure>("Failure");
    engine
}

/// Compiles `source`, naming `file` in every position it reports.
pub fn compile(engine: &Engine, file: &str, source: &str) -> Result<AST, ScenarioError> {
    let mut ast =
        engine.compile(source).map_err(|e| ScenarioError::at(file, e.position(), e.err_type().to_string()))?;
    ast.set_source(file);
    Ok(ast)
}

/// Compiles again in strict-variables mode with the slots and servers declared, so a
/// mistyped name (`alcie.register(server)`) fails the load with its line and column.
pub fn check_variables(file: &str, source: &str, needs: &Needs) -> Result<(), ScenarioError> {
    let mut engine = checking_engine();
    engine.set_strict_variables(true);
    let mut scope = Scope::new();
    for (slot, _) in &needs.clients {
        scope.push(slot.as_str(), ());
    }
    for name in needs.servers.iter().flat_map(|s| s.names.iter()) {
        scope.push(name.as_str(), ());
    }
    engine
        .compile_with_scope(&scope, source)
        .map(|_| ())
        .map_err(|e| ScenarioError::at(file, e.position(), e.err_type().to_string()))
}

/// The engine every case's script runs on: built once, its functions registered once,
/// shared by all script threads (Rhai's `sync` feature makes it `Sync`). What a built-in
/// needs of its case (clients, log, cancellation) comes from the case the calling thread
/// runs, set by [`CaseScope`]: per-case state is that small context, not an engine.
pub fn shared_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut engine = checking_engine();
        engine.on_progress(|_| {
            with_case(|ctx, _| ctx.cancel.is_cancelled())
                .ok()
                .filter(|ended| *ended)
                .map(|_| Dynamic::from("the test case has ended"))
        });
        engine.on_print(|text| {
            let _ = with_case(|ctx, _| ctx.log(text));
        });
        engine.on_debug(|text, _, pos| {
            let _ = with_case(|ctx, _| ctx.log(format!("{pos:?}: {text}")));
        });
        register_client(&mut engine);
        register_file(&mut engine);
        register_globals(&mut engine);
        engine
    })
}

/// A running case as its script threads see it.
#[derive(Clone)]
pub struct CaseScope {
    pub ctx: CaseContext,
    pub file: Arc<str>,
    pub options: ScriptOptions,
}

thread_local! {
    static CURRENT: RefCell<Option<CaseScope>> = const { RefCell::new(None) };
}

impl CaseScope {
    /// Makes this the case of the calling thread until the guard is dropped.
    pub fn enter(self) -> ScopeGuard {
        CURRENT.with(|c| *c.borrow_mut() = Some(self));
        ScopeGuard(())
    }

    /// The case of the calling thread, if it runs one.
    pub fn current() -> Option<CaseScope> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

/// Clears the thread's case when dropped.
pub struct ScopeGuard(());

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// Runs `f` with the calling thread's case; an error if the thread runs none.
fn with_case<R>(f: impl FnOnce(&CaseContext, &str) -> R) -> Result<R, Box<EvalAltResult>> {
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(scope) => Ok(f(&scope.ctx, &scope.file)),
        None => Err(runner::script_error("this function is only available while a test case runs".into())),
    })
}

fn register_client(engine: &mut Engine) {
    engine
        .register_get("name", |c: &mut Client| c.handle.name.clone())
        .register_get("uuid", |c: &mut Client| c.handle.uuid.clone())
        .register_get("client_type", |c: &mut Client| c.handle.client_type().to_string())
        .register_get("registration", |c: &mut Client| c.registration.clone())
        .register_get_set(
            "localpart",
            |c: &mut Client| c.localpart.clone(),
            |c: &mut Client, v: String| c.localpart = v,
        )
        .register_get_set("password", |c: &mut Client| c.password.clone(), |c: &mut Client, v: String| c.password = v)
        .register_fn("to_string", |c: &mut Client| format!("Client({})", c.handle.name))
        .register_fn("to_debug", |c: &mut Client| format!("Client({}: {})", c.handle.name, c.handle.client_type()))
        .register_fn("file", |c: &mut Client, name: &str| c.file(name).map_err(runner::script_error));
    engine.register_fn("act", |c: &mut Client, action: &str, data: Map| {
        with_case(|ctx, _| runner::act(ctx, c, action, data))?
    });
    engine.register_fn("act", |c: &mut Client, action: &str| {
        with_case(|ctx, _| runner::act(ctx, c, action, Map::new()))?
    });
}

fn register_file(engine: &mut Engine) {
    engine
        .register_get("name", |f: &mut ScriptFile| f.name.clone())
        .register_get("size", |f: &mut ScriptFile| f.size)
        .register_fn("to_string", |f: &mut ScriptFile| format!("File({})", f.name))
        .register_fn("centre_pixel", |f: &mut ScriptFile| -> Result<Map, Box<EvalAltResult>> {
            let (r, g, b) = f.centre_pixel().map_err(runner::script_error)?;
            Ok(Map::from_iter([
                ("r".into(), Dynamic::from_int(r.into())),
                ("g".into(), Dynamic::from_int(g.into())),
                ("b".into(), Dynamic::from_int(b.into())),
            ]))
        })
        .register_fn("centre_colour", |f: &mut ScriptFile| -> Result<String, Box<EvalAltResult>> {
            Ok(colour_name(f.centre_pixel().map_err(runner::script_error)?).to_string())
        });
}

fn register_globals(engine: &mut Engine) {
    engine.register_fn("parallel", |context: NativeCallContext, branches: Array| {
        let scope =
            CaseScope::current().ok_or_else(|| runner::script_error("parallel() outside a test case".into()))?;
        runner::parallel(&scope, &context, branches)
    });
    engine.register_fn("sleep", |ms: i64| -> Result<(), Box<EvalAltResult>> {
        let scope = CaseScope::current().ok_or_else(|| runner::script_error("sleep() outside a test case".into()))?;
        let scaled = Duration::from_millis(ms.max(0) as u64).mul_f64(scope.options.sleep_scale);
        if scope.ctx.sleep_cancellable(scaled) {
            Ok(())
        } else {
            Err(runner::throw(Outcome::Error("the test case ended during sleep()".into())))
        }
    });
    engine.register_fn("assert", |cond: bool, message: &str| {
        runner::check(cond, || format!("assertion failed: {message}"))
    });
    engine.register_fn("assert", |cond: bool| runner::check(cond, || "assertion failed".to_string()));
    engine.register_fn("assert_eq", |left: Dynamic, right: Dynamic| runner::check_equal(left, right, None));
    engine.register_fn("assert_eq", |left: Dynamic, right: Dynamic, message: &str| {
        runner::check_equal(left, right, Some(message))
    });
    engine.register_fn("fail", |message: &str| -> Result<(), Box<EvalAltResult>> {
        Err(runner::throw(Outcome::Failed(message.to_string())))
    });
    engine.register_fn("log", |message: Dynamic| with_case(|ctx, _| ctx.log(message.to_string())));
    engine.register_fn("unix_time", || {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    });
    engine.register_fn("homeserver_register", |url: &str, localpart: &str, password: &str| {
        with_case(|ctx, _| super::homeserver::register(ctx, url, localpart, password))?.map_err(runner::script_error)
    });
}
