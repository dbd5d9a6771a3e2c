//! Network I/O: one HTTP client (with fixture replay) and the OpenAI-compatible inference and
//! transcription clients built on it.

pub mod http;
pub mod inference;
pub mod transcription;
