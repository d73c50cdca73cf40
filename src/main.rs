//! `trafficlight`: serve adapters and run tests, run the demo, list the tests, run a
//! network proxy, or swarm a server.

use clap::Parser;
use trafficlight::cli::{Cli, Command};
use trafficlight::list;
use trafficlight::serve::{bad_start, serve};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Serve(args) => match args.resolve() {
            Ok(config) => serve(config),
            Err(e) => bad_start(e),
        },
        Command::List(args) => match args.client_set().and_then(|clients| {
            list::listing(&args.scenarios, args.pattern.as_deref(), &clients).map_err(|e| e.to_string())
        }) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => bad_start(e),
        },
        Command::Demo(args) => trafficlight::demo::main(*args),
        Command::Proxy(args) => proxy(args.config()),
        Command::Swarm(args) => trafficlight::swarm::main(args),
    };
    std::process::exit(status);
}

fn proxy(config: trafficlight::proxy::ProxyConfig) -> i32 {
    actix_web::rt::System::new().block_on(async move {
        let handle = match trafficlight::proxy::run(config).await {
            Ok(handle) => handle,
            Err(e) => return bad_start(e),
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
