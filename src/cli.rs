//! Command-line definitions (clap derive). Declarations only; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::model::Format;
pub use crate::steps::options::{InstallArgs, RebootPolicy};

/// Provision and diagnose Linux hosts for AMD XDNA NPUs (Strix Point, Strix Halo, Krackan).
#[derive(Debug, Parser)]
#[command(name = "npu-setup", version, about, help_expected = true, max_term_width = 100)]
pub struct Cli {
    /// Root directory of the system to inspect (a fixture tree, or /mnt/sysimage)
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// More output (-v: evidence for every check, debug logs; -vv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: only problems and the verdict
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured in auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Timeout for each external command, in seconds (at most 86400)
    #[arg(long, global = true, default_value = "10", value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: f64,
    /// Read recipes/ and grub/ from this directory instead of the built-in copy
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// Colour policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose the whole NPU stack, hardware to inference (read-only)
    Doctor(DoctorArgs),
    /// Converge this host to a working NPU stack (idempotent; shows the plan first)
    Install(InstallArgs),
    /// Measure TTFT, prefill and decode speed on the NPU (Lemonade) and the GPU endpoint
    Bench(BenchArgs),
    /// Print configuration for other tools (LiteLLM proxy)
    Config(ConfigArgs),
    /// Will a kernel work with the NPU? (the kernel-install plugin runs `check --kernel KVER`)
    Check(CheckArgs),
    /// The verdict of the last boot-time check (`--wait` blocks until it exists)
    Status(StatusArgs),
    /// The knowledge in use (built-in, a stored signed bundle, or --data-dir): show it, or
    /// update it from a signed recipes bundle
    Recipes(RecipesArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// Shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Developer tools (fixtures, facts)
    #[command(hide = true)]
    Dev(DevArgs),
    /// Put back what an install run changed (default: the last run), from its journal and
    /// backups; packages it installed are listed with their removal commands
    Undo(UndoArgs),
}

/// `undo` arguments.
#[derive(Debug, Clone, Args, Default)]
pub struct UndoArgs {
    /// The install run to undo, as the journal names it (default: the last run not undone)
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// Print what would be put back, removed and listed; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also run the removal commands of the packages, repositories and DKMS modules the run
    /// installed (without it they are only listed)
    #[arg(long)]
    pub packages: bool,
    /// Undo even when files changed since the run (those changes are lost) or the run was
    /// undone already
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
}

/// `doctor` arguments.
#[derive(Debug, Args, Default)]
pub struct DoctorArgs {
    /// Run only these checks (ids, repeatable or comma-separated; `doctor --list` lists them)
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = check_ids(), hide_possible_values = true)]
    pub only: Vec<String>,
    /// Skip these checks (ids, repeatable or comma-separated)
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = check_ids(), hide_possible_values = true)]
    pub skip: Vec<String>,
    /// The user whose access and limits to judge (default: SUDO_USER or you)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Also run a real completion on the NPU (through Lemonade) and on the GPU endpoint
    #[arg(long)]
    pub smoke: bool,
    /// NPU model for --smoke, as Lemonade names it (default: the first chat model the last
    /// install set up, else the recipe's, e.g. qwen3-4b-FLM)
    #[arg(long, value_name = "MODEL")]
    pub npu_model: Option<String>,
    /// GPU model for --smoke (default: the first the endpoint lists)
    #[arg(long, value_name = "MODEL")]
    pub gpu_model: Option<String>,
    /// Whisper model for --smoke, as Lemonade names it (default: the Whisper model the last
    /// install set up, else the recipe's, e.g. whisper-v3-turbo-FLM)
    #[arg(long, value_name = "MODEL")]
    pub whisper_model: Option<String>,
    /// Print the check catalog (id, layer, description) and exit
    #[arg(long)]
    pub list: bool,
    /// Lemonade base URL (default: from its unit, else the version's port on 127.0.0.1)
    #[arg(long, value_name = "URL")]
    pub lemonade_url: Option<String>,
    /// GPU endpoint health URL (default: llama-swap, http://127.0.0.1:8080/health)
    #[arg(long, value_name = "URL")]
    pub gpu_url: Option<String>,
    /// Exit 1 on warnings too
    #[arg(long)]
    pub strict: bool,
    /// Also write a support bundle (report, logs, command outputs; redacted) to this .tar.gz
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Record the verdict in /run/npu-setup/status.json for `npu-setup status` (the boot unit does)
    #[arg(long)]
    pub write_status: bool,
    /// Also write node_exporter textfile metrics to FILE (*.prom), atomically
    #[arg(long, value_name = "FILE", value_parser = parse_textfile_path)]
    pub textfile: Option<PathBuf>,
}

/// `check` arguments.
#[derive(Debug, Args, Default)]
pub struct CheckArgs {
    /// Judge this installed kernel (release as in /lib/modules)
    #[arg(long, value_name = "KVER", conflicts_with = "next_boot")]
    pub kernel: Option<String>,
    /// Readiness matrix for every installed kernel (the default)
    #[arg(long)]
    pub next_boot: bool,
    /// Hook mode (kernel-install / postinst.d plugins): warn on stderr, always exit 0
    #[arg(long, hide = true)]
    pub hook: bool,
    /// Also record the --kernel result in /var/lib/npu-setup/kernels/KVER.json (the kernel
    /// hooks do); without it check writes nothing
    #[arg(long, requires = "kernel")]
    pub record: bool,
}

/// `status` arguments.
#[derive(Debug, Args, Default)]
pub struct StatusArgs {
    /// Wait until this boot's check has finished (like `cloud-init status --wait`)
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (exit 2; at most 86400)
    #[arg(long, default_value_t = 600.0, value_name = "SECS", value_parser = parse_max_wait)]
    pub max_wait: f64,
}

/// `recipes` arguments.
#[derive(Debug, Args)]
pub struct RecipesArgs {
    /// What to do with the recipes
    #[command(subcommand)]
    pub command: RecipesCommand,
}

/// `recipes` subcommands.
#[derive(Debug, Subcommand)]
pub enum RecipesCommand {
    /// Which copy of the recipes is in use, its version and date, and the other copies
    Show,
    /// Download a signed recipes bundle, verify it and store it under /var/lib/npu-setup/recipes
    /// (doctor and install use it from then on); refuses a bundle that is unsigned, damaged,
    /// for another schema, or older than the copy in use
    Update(RecipesUpdateArgs),
}

/// `recipes update` arguments.
#[derive(Debug, Args, Default)]
pub struct RecipesUpdateArgs {
    /// Bundle to fetch: an http(s) URL, or a file:// URL or path on this machine; its
    /// signature is the same with `.minisig` appended (default: the project's latest release)
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// Download and verify, say what would change, store nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Endpoints shared by `bench` and `config`.
#[derive(Debug, Clone, Args, Default)]
pub struct EndpointArgs {
    /// Lemonade base URL (default: from its unit, else the version's port on 127.0.0.1)
    #[arg(long, value_name = "URL")]
    pub lemonade_url: Option<String>,
    /// NPU model as Lemonade names it (default: the first chat model the last install set up,
    /// else the recipe's, e.g. qwen3-4b-FLM)
    #[arg(long, value_name = "MODEL")]
    pub npu_model: Option<String>,
    /// GPU endpoint: its health URL or OpenAI base (default llama-swap, http://127.0.0.1:8080/health)
    #[arg(long, value_name = "URL")]
    pub gpu_url: Option<String>,
    /// GPU model (default: the first the endpoint lists)
    #[arg(long, value_name = "MODEL")]
    pub gpu_model: Option<String>,
}

/// `bench` arguments.
#[derive(Debug, Args, Default)]
pub struct BenchArgs {
    /// Endpoints and models
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Runs per endpoint (statistics over these; 1 to 1000)
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = parse_runs)]
    pub runs: usize,
    /// Tokens to generate per run (1 to 131072)
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = parse_max_tokens)]
    pub max_tokens: u32,
    /// Prompt (default: a fixed paragraph-length request)
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Only this side
    #[arg(long, value_parser = ["npu", "gpu"], value_name = "SIDE")]
    pub only: Option<String>,
    /// Also run NPU and GPU at the same time and compare with sequential
    #[arg(long)]
    pub concurrent: bool,
    /// Keep the result when every side had a successful run: as
    /// /var/lib/npu-setup/bench/last.json (doctor's metrics, `--baseline last`) and, given a
    /// NAME, as the baseline NAME too; without it bench writes nothing
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "last")]
    pub save: Option<String>,
    /// Compare with a saved baseline; exit 1 when decode speed dropped beyond --tolerance
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Allowed drop in decode tokens/s against the baseline, percent (0 to 100)
    #[arg(long, default_value_t = 10.0, value_name = "PCT", value_parser = parse_tolerance)]
    pub tolerance: f64,
}

/// `config` arguments.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to print
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// Configurations `config` prints.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// A LiteLLM proxy config routing npu/* to Lemonade and local/* to the GPU endpoint
    Litellm {
        /// Endpoints and models
        #[command(flatten)]
        endpoints: EndpointArgs,
    },
}

/// `dev` arguments.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Developer subcommand
    #[command(subcommand)]
    pub command: DevCommand,
}

/// Developer subcommands.
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Copy what the probes read from this host into a fixture tree (redacted)
    CaptureFixture {
        /// Directory to create (must not exist or be empty)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The user to record as the fixture's target user
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Print the probed facts as JSON
    Facts,
    /// Write man pages generated from the command definitions into DIR
    Man {
        /// Output directory
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Wait until Lemonade answers GET <url>/live, then optionally load a model (the
    /// ExecStartPost of the unit npu-setup configures). The global --timeout bounds the whole
    /// run (wait and load).
    LemonadeReady {
        /// Lemonade base URL
        #[arg(long, value_name = "URL")]
        url: String,
        /// Lemonade model name to load once it answers (e.g. qwen3-4b-FLM)
        #[arg(long, value_name = "MODEL")]
        load: Option<String>,
    },
}

/// The check ids as the values `--only`/`--skip` take: shell completions offer them, and a
/// mistyped id is a usage error that names the closest one.
pub fn check_ids() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::model::CHECK_IDS.iter().copied())
}

/// Longest timeout or wait accepted: a day. More is a typo (`2e19`), and would overflow the
/// clock a deadline is computed on.
pub const MAX_SECS: f64 = 86_400.0;

/// A number of seconds in `lo..=MAX_SECS` (`lo` itself excluded unless `zero_ok`).
fn seconds(s: &str, zero_ok: bool) -> Result<f64, String> {
    let what = if zero_ok { "a number of seconds >= 0" } else { "a positive number of seconds" };
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) && v <= MAX_SECS => Ok(v),
        _ => Err(format!("must be {what}, at most {MAX_SECS} (a day)")),
    }
}

/// `--timeout`: seconds, more than 0 and at most [`MAX_SECS`].
pub fn parse_timeout(s: &str) -> Result<f64, String> {
    seconds(s, false)
}

/// `status --max-wait`: seconds, 0 to [`MAX_SECS`].
pub fn parse_max_wait(s: &str) -> Result<f64, String> {
    seconds(s, true)
}

/// A whole number in `range`, with the range in the message.
fn whole<T: TryFrom<u64>>(s: &str, range: std::ops::RangeInclusive<u64>) -> Result<T, String> {
    let err = || format!("must be a whole number from {} to {}", range.start(), range.end());
    let v: u64 = s.trim().parse().map_err(|_| err())?;
    if !range.contains(&v) {
        return Err(err());
    }
    T::try_from(v).map_err(|_| err())
}

/// `bench --runs`: 1 to 1000.
pub fn parse_runs(s: &str) -> Result<usize, String> {
    whole(s, 1..=1000)
}

/// `bench --max-tokens`: 1 to 131072 (beyond any context a model on the NPU has).
pub fn parse_max_tokens(s: &str) -> Result<u32, String> {
    whole(s, 1..=131_072)
}

/// `bench --tolerance`: a percentage, 0 to 100.
pub fn parse_tolerance(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err("must be a percentage from 0 to 100".into()),
    }
}

/// `doctor --textfile` value parser: node_exporter's textfile collector reads only `*.prom`.
pub fn parse_textfile_path(s: &str) -> Result<PathBuf, String> {
    if !s.ends_with(".prom") {
        return Err("the node_exporter textfile collector reads only files ending in .prom".into());
    }
    Ok(PathBuf::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn textfile_paths_must_end_in_prom() {
        assert!(parse_textfile_path("/var/lib/node_exporter/textfile_collector/npu_setup.prom").is_ok());
        assert!(parse_textfile_path("/tmp/npu.txt").is_err());
    }

    /// `--timeout 2e19`, `--timeout 1e19` and `status --wait --max-wait 1e20` panicked (a
    /// deadline past the clock's range): every numeric option is refused out of its range
    /// by its parser, a usage error.
    #[test]
    fn numeric_options_are_refused_out_of_range() {
        let bad: &[(&[&str], &str)] = &[
            (&["--timeout", "2e19", "doctor"], "at most 86400"),
            (&["--timeout", "1e19", "doctor"], "at most 86400"),
            (&["--timeout", "86400.5", "doctor"], "at most 86400"),
            (&["--timeout", "0", "doctor"], "a positive number of seconds"),
            (&["--timeout=-1", "doctor"], "a positive number of seconds"),
            (&["--timeout", "nan", "doctor"], "a positive number of seconds"),
            (&["--timeout", "inf", "doctor"], "a positive number of seconds"),
            (&["status", "--wait", "--max-wait", "1e20"], "at most 86400"),
            (&["status", "--max-wait=-0.5"], "a number of seconds >= 0"),
            (&["status", "--max-wait", "NaN"], "a number of seconds >= 0"),
            (&["bench", "--runs", "0"], "from 1 to 1000"),
            (&["bench", "--runs", "18446744073709551616"], "from 1 to 1000"),
            (&["bench", "--max-tokens", "0"], "from 1 to 131072"),
            (&["bench", "--max-tokens", "4294967296"], "from 1 to 131072"),
            (&["bench", "--tolerance", "101"], "from 0 to 100"),
            (&["bench", "--tolerance=-1"], "from 0 to 100"),
            (&["bench", "--tolerance", "nan"], "from 0 to 100"),
            (&["install", "--lemonade-port", "0"], "1..=65535"),
            (&["install", "--lemonade-port", "65536"], "65536"),
        ];
        for (args, want) in bad {
            let err = Cli::try_parse_from(std::iter::once("npu-setup").chain(args.iter().copied())).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            assert!(err.to_string().contains(want), "{args:?}: {err}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        let good: &[&[&str]] = &[
            &["--timeout", "86400", "doctor"],
            &["--timeout", "0.001", "doctor"],
            &["status", "--wait", "--max-wait", "0"],
            &["bench", "--runs", "1000", "--max-tokens", "131072", "--tolerance", "0"],
            &["install", "--lemonade-port", "65535"],
        ];
        for args in good {
            Cli::try_parse_from(std::iter::once("npu-setup").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_doctor_flags() {
        let c = Cli::try_parse_from([
            "npu-setup",
            "--root",
            "/tmp/x",
            "doctor",
            "--only",
            "boot.iommu,npu.device",
            "--format",
            "json",
        ])
        .unwrap();
        let Command::Doctor(d) = c.command else { panic!() };
        assert_eq!(d.only, vec!["boot.iommu", "npu.device"]);
        assert_eq!(c.format, Format::Json);
        assert!(Cli::try_parse_from(["npu-setup", "doctor", "-q", "-v"]).is_err());
    }
}
