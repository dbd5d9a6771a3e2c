//! `npu-setup` entry point: parse, set up logging, dispatch, map errors to exit codes.

use clap::{CommandFactory, FromArgMatches};
use npu_setup::cli::{Cli, Command};
use npu_setup::commands;
use npu_setup::report::exit;

fn main() {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // Outside UTF-8 locales every human line is ASCII: reports, logs and errors alike.
    let unicode = commands::unicode();
    npu_setup::report::set_ascii_fallback(!unicode);
    init_logging(cli.verbose, cli.quiet, commands::colors_stderr(cli.color), unicode);
    let result = match &cli.command {
        Command::Doctor(args) => commands::doctor::run(&cli, args),
        Command::Install(args) => commands::install::run(&cli, args, matches.subcommand_matches("install")),
        Command::Bench(args) => commands::bench::run(&cli, args),
        Command::Config(args) => commands::config::run(&cli, &args.command),
        Command::Check(args) => commands::check::run(&cli, args),
        Command::Status(args) => commands::status::run(&cli, args),
        Command::Recipes(args) => commands::recipes::run(&cli, &args.command),
        Command::Completions { shell } => commands::completions::run(*shell),
        Command::Dev(args) => commands::dev::run(&cli, &args.command),
        Command::Undo(args) => commands::undo::run(&cli, args),
    };
    let code = match result {
        Ok(code) => code,
        // `npu-setup doctor | head -1`: the reader had what it wanted; not an error.
        Err(e) if commands::is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            let msg = format!("error: {e:#}");
            eprintln!("{}", npu_setup::report::ascii::localize(&msg, unicode));
            exit::CANNOT_RUN
        }
    };
    std::process::exit(code);
}

/// Logs go to stderr: warnings by default, debug with -v, trace with -vv; RUST_LOG wins.
/// Colour only when stderr gets it (`--color`, `NO_COLOR`, a terminal); ASCII outside UTF-8
/// locales.
fn init_logging(verbose: u8, quiet: bool, color: bool, unicode: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("npu_setup={level}")));
    let writer = move || -> Box<dyn std::io::Write> {
        if unicode {
            Box::new(std::io::stderr())
        } else {
            Box::new(npu_setup::report::ascii::AsciiWriter::new(std::io::stderr()))
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}
