//! Pure text parsers (no I/O) for the files and command outputs `npu-setup` reads.
//!
//! Every function here takes text (or bytes) that a caller already captured and
//! returns plain data. None of them panic on malformed input; the tests in each
//! module feed real captured text from the reference notes plus garbage.

pub mod bls;
pub mod cmdline;
pub mod dkms;
pub mod elf;
pub mod flm;
pub mod kernel_log;
pub mod ldconfig;
pub mod limits;
pub mod modinfo;
pub mod mokutil;
pub mod packages;
pub mod passwd;
pub mod repos;
pub mod secret;
pub mod shellvars;
pub mod systemctl;
pub mod version;
pub mod xrt;
pub mod yaml;
