//! `completions SHELL`: the shell completion script, generated from the clap definitions.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::report::exit;

/// The name completions are registered under: the installed binary's name, whatever
/// `argv[0]` was when generating.
pub const BIN_NAME: &str = "npu-setup";

/// Prints the completion script for `shell` to stdout (packagers redirect it into the
/// shell's completion directory; docs/packaging.md).
pub fn run(shell: clap_complete::Shell) -> Result<i32> {
    let script = script(shell);
    let mut out = std::io::stdout().lock();
    out.write_all(script.as_bytes())
        .and_then(|()| out.flush())
        .with_context(|| format!("writing the {shell} completions"))?;
    Ok(exit::OK)
}

/// The completion script for `shell`.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut buf);
    // clap_complete writes Rust strings, so the lossy conversion never substitutes anything.
    let script = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        clap_complete::Shell::Bash => fix_bash_states(&script),
        _ => script,
    }
}

/// clap_complete (4.6.11, clap-rs/clap#6421, open) spells the bash script's per-subcommand
/// states two ways when the binary name has a `-`: the loop that walks the words sets
/// `cmd="npu__setup__subcmd__doctor"`, but the `case` arms are labelled
/// `npu__subcmd__setup__subcmd__doctor`, so nothing after a subcommand ever completes
/// (`npu-setup doctor --<TAB>`). Relabel the arms the way the loop spells them; once upstream
/// agrees with itself the wrong spelling no longer occurs and this changes nothing.
fn fix_bash_states(script: &str) -> String {
    const SEP: &str = "__subcmd__";
    let wrong = format!("{}{SEP}", BIN_NAME.replace('-', SEP));
    let right = format!("{}{SEP}", BIN_NAME.replace('-', "__"));
    script.replace(&wrong, &right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_states_are_spelled_one_way() {
        let s = script(clap_complete::Shell::Bash);
        assert!(s.contains("cmd=\"npu__setup__subcmd__doctor\""), "dispatch state missing");
        assert!(s.contains("\n        npu__setup__subcmd__doctor)\n"), "no case arm for the doctor state");
        assert!(!s.contains("npu__subcmd__setup"), "an arm still has the mangled bin name");
    }

    /// Completions offered file names after `--only`: every shell now completes the check
    /// ids (doctor) and the step ids (install) there.
    #[test]
    fn only_and_skip_complete_check_and_step_ids() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let s = script(shell);
            for id in crate::model::CHECK_IDS.iter().chain(crate::model::STEP_IDS) {
                assert!(s.contains(id), "{shell}: {id} is not offered");
            }
        }
        let bash = script(clap_complete::Shell::Bash);
        let checks = crate::model::CHECK_IDS.join(" ");
        let steps = crate::model::STEP_IDS.join(" ");
        // Offered after --only and --skip of doctor (check ids) and install (step ids).
        assert_eq!(bash.matches(&format!("compgen -W \"{checks}\"")).count(), 2, "doctor --only/--skip");
        assert_eq!(bash.matches(&format!("compgen -W \"{steps}\"")).count(), 2, "install --only/--skip");
        let fish = script(clap_complete::Shell::Fish);
        assert!(
            fish.contains("__fish_npu_setup_using_subcommand doctor\" -l only") && fish.contains("host.os"),
            "{fish}"
        );
    }

    #[test]
    fn every_shell_names_the_binary() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let s = script(shell);
            // fish spells a long option `-l dry-run`; its "--dry-run" came from a help text.
            assert!(s.contains("npu-setup") && s.contains("doctor") && s.contains("dry-run"), "{shell}");
        }
    }
}
