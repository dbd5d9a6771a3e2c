//! Judgements over `Facts` + `Recipes`, shared by checks, steps, `check --kernel` and the
//! kernel hook. Pure: no I/O, nothing here reads the host or runs a command.

pub mod access;
pub mod analysis;
pub mod distro;
pub mod dkms;
pub mod driver;
pub mod firmware;
pub mod freshness;
pub mod identify;
pub mod kargs;
pub mod kernels;
pub mod known_issues;
pub mod lemonade;
pub mod paths;
pub mod routes;
pub mod secureboot;
pub mod stack;
pub mod strategy;

#[cfg(test)]
mod tests;
