//! npu-setup: provision and diagnose Linux hosts for AMD XDNA NPUs.
//!
//! Data flows one way: `host` (read-only probes through a root) -> `Facts` -> `checks`
//! (pure) -> `report` (human | json | yaml). Knowledge lives in `recipes/` and `grub/`
//! as data, embedded at build time.

pub mod capture;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod edit;
pub mod fsx;
pub mod host;
pub mod knowledge;
pub mod lemonade;
pub mod model;
pub mod net;
pub mod parse;
pub mod provenance;
pub mod recipes;
pub mod redact;
pub mod report;
pub mod root;
pub mod runner;
pub mod state;
pub mod steps;
