//! `trafficlight`: serve adapters and run tests, list the tests, or swarm a server.

use clap::Parser;
use std::path::PathBuf;
use trafficlight::cli::{Cli, Command};
use trafficlight::config::Config;
use trafficlight::{list, provision, scenario, startup};

/// Exit status for a start that could not happen (bad flags, broken scripts).
const EXIT_BAD_START: i32 = 2;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Serve(args) => match args.resolve() {
            Ok(config) => serve(config),
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_BAD_START
            }
        },
        Command::List(args) => match args.client_set().and_then(|clients| {
            list::listing(&args.scenarios, args.pattern.as_deref(), &clients).map_err(|e| e.to_string())
        }) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_BAD_START
            }
        },
        Command::Proxy(args) => proxy(args.config()),
        Command::Swarm(args) => trafficlight::swarm::main(args),
    };
    std::process::exit(status);
}

fn proxy(config: trafficlight::proxy::ProxyConfig) -> i32 {
    actix_web::rt::System::new().block_on(async move {
        let handle = match trafficlight::proxy::run(config).await {
            Ok(handle) => handle,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_START;
            }
        };
        log::info!("network proxy {} listening on {}", handle.uuid, handle.endpoint);
        match handle.finished().await {
            Ok(reason) => {
                log::info!("network proxy: exit ({reason})");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        }
    })
}

fn serve(config: Config) -> i32 {
    let dir = config.scenarios.clone().unwrap_or_else(|| PathBuf::from("scenarios"));
    let scenarios = match scenario::load_dir(&dir, config.pattern.as_deref()) {
        Ok(s) if s.is_empty() => {
            eprintln!("error: no test scripts (*.rhai) found in {}", dir.display());
            return EXIT_BAD_START;
        }
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_START;
        }
    };
    if let Err(e) = startup::check_output(&config.output) {
        eprintln!("error: {e}");
        return EXIT_BAD_START;
    }
    let types = match config.server_types().and_then(|t| t.check(&scenarios).map(|_| t).map_err(|e| e.to_string())) {
        Ok(types) => types,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_START;
        }
    };
    let homerunner_tests = types.homerunner_tests(&scenarios);
    let options = scenario::ScriptOptions { sleep_scale: config.script_sleep_scale };
    let (cases, left_out) = config.clients.select(scenario::expand_with(&scenarios, options));
    let scripts = trafficlight::dashboard::Dashboard::scripts_of(&scenarios);
    log::info!("loaded {} test(s) from {}: {} case(s)", scenarios.len(), dir.display(), cases.len());
    for (case, why) in &left_out {
        log::info!("case {} left out: {why}", case.id);
    }
    if cases.is_empty() {
        eprintln!("error: no case left to run: every case needs a client type the client set leaves out");
        return EXIT_BAD_START;
    }
    actix_web::rt::System::new().block_on(async move {
        let listener = match startup::bind(&config) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_START;
            }
        };
        if !homerunner_tests.is_empty() {
            let url = config.provision.homerunner_url.clone();
            if let Err(e) = provision::homerunner::reachable(&url).await {
                log::warn!(
                    "homerunner at {url} is not reachable ({e}); these tests need it and their cases will error until it answers: {} (start homerunner, set --homerunner-url, or use --local-synapse for the Synapse types)",
                    homerunner_tests.join(", ")
                );
            }
        }
        match startup::start_with_scripts(listener, config, cases, scripts).await {
            Ok(running) => {
                log::info!("listening on http://{}", running.addr);
                startup::run_to_end(running).await
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_BAD_START
            }
        }
    })
}
