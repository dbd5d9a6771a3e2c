//! The doctor report: one serde value (`apiVersion: npu-setup/v1`, `kind: DoctorReport`)
//! rendered as human text, JSON, YAML or prometheus metrics. Renderers take the data
//! (`model`) only; building the report is the checks' job.

pub mod ascii;
pub mod human;
pub mod prometheus;

pub use crate::model::{HostSummary, KernelSummary, NpuSummary, Report, Summary, exit};

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

pub use crate::model::Format;

/// A renderer of one output form.
pub type Render<'a> = &'a dyn Fn(&mut dyn Write) -> Result<()>;

/// Human text is spelled in ASCII ([`ascii`]) from now on: the binary sets it once, from the
/// locale (not UTF-8: `LANG=C`).
pub fn set_ascii_fallback(on: bool) {
    ASCII.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether human text is spelled in ASCII ([`set_ascii_fallback`]).
pub fn ascii_fallback() -> bool {
    ASCII.load(std::sync::atomic::Ordering::Relaxed)
}

static ASCII: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The one emitter: writes `doc` in `format`. JSON (pretty, one trailing newline) and YAML
/// come from the document's serde form, the same for every command; human text and
/// prometheus metrics from the command's renderers (human text in ASCII outside UTF-8 locales,
/// [`set_ascii_fallback`]). A format a document has no form for is an error naming the
/// document.
pub fn emit<T: Serialize + ?Sized>(
    w: &mut dyn Write,
    format: Format,
    what: &str,
    doc: &T,
    human: impl FnOnce(&mut dyn Write) -> Result<()>,
    prometheus: Option<Render>,
) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, doc)?;
            writeln!(w)?;
        }
        Format::Yaml => serde_yaml::to_writer(&mut *w, doc)?,
        Format::Human if ascii_fallback() => {
            let mut a = ascii::AsciiWriter::new(&mut *w);
            human(&mut a)?;
            a.flush()?;
        }
        Format::Human => human(w)?,
        Format::Prometheus => match prometheus {
            Some(render) => render(w)?,
            None => bail!("{what} has no prometheus form; use --format json or yaml"),
        },
    }
    Ok(())
}
