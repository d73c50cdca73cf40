//! `trafficlight`: serve adapters and run tests, or list the tests.

use clap::Parser;
use trafficlight::cli::{Cli, Command};
use trafficlight::startup;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Serve(args) => match args.resolve() {
            Ok(config) => serve(config),
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        },
        Command::List(_args) => {
            eprintln!("error: no scenario engine yet");
            2
        }
    };
    std::process::exit(status);
}

fn serve(config: trafficlight::config::Config) -> i32 {
    actix_web::rt::System::new().block_on(async move {
        let listener = match startup::bind(&config) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        match startup::start(listener, config, Vec::new()).await {
            Ok(running) => {
                log::info!("listening on http://{}", running.addr);
                startup::run_to_end(running).await
            }
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        }
    })
}
