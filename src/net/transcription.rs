//! Whisper transcription smoke: upload a short WAV to an OpenAI-compatible
//! `/audio/transcriptions` route (Lemonade serves it under `/api/v1`,
//! <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/src/cpp/server/server.cpp>)
//! and judge the text against what the clip says.
//!
//! The clip (`templates/smoke/hello-world.wav`, 16 kHz mono 16-bit PCM, 3.6 s) was made
//! with `espeak-ng -v en-us -s 150 -g 4` and resampled to 16 kHz: whisper.cpp wants 16 kHz
//! input unless its server runs with `--convert`
//! (<https://github.com/ggml-org/whisper.cpp/blob/233fe1fc9b48a09e361d3594520838ca266537fe/examples/server/README.md>).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::http::{Client, FormField, Timeouts};
use super::inference::{Endpoint, InferError, body_error, request_error, status_error, truncate};

/// The shipped smoke clip.
pub const SMOKE_WAV: &[u8] = include_bytes!("../../templates/smoke/hello-world.wav");
/// What the clip says.
pub const SMOKE_TEXT: &str = "Hello world. Testing one two three.";

/// One transcription and how it compares with the reference text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Transcription {
    /// What the server heard.
    pub text: String,
    /// The whole request, ms.
    pub total_ms: f64,
    /// Length of the uploaded audio, seconds.
    pub audio_s: f64,
    /// Audio seconds per wall second (above 1 = faster than real time).
    pub speed: f64,
    /// What the clip says.
    pub reference: String,
    /// Reference words found in the transcription (digits and number words count alike).
    pub matched: Vec<String>,
    /// Reference words in total.
    pub reference_words: usize,
}

/// Duration of a RIFF/WAVE PCM file in seconds, from its `fmt ` byte rate and `data` size.
/// `None` for anything that is not a well-formed WAV.
pub fn wav_seconds(b: &[u8]) -> Option<f64> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut i = 12;
    let mut byte_rate = None;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32::from_le_bytes(b[i + 4..i + 8].try_into().ok()?) as usize;
        let body = b.get(i + 8..(i + 8).checked_add(size)?.min(b.len()))?;
        match id {
            b"fmt " if body.len() >= 12 => byte_rate = Some(u32::from_le_bytes(body[8..12].try_into().ok()?)),
            b"data" => {
                let rate = byte_rate.filter(|r| *r > 0)?;
                return Some(size.min(body.len()) as f64 / f64::from(rate));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        i += 8 + size + (size & 1);
    }
    None
}

/// Lower-case words, with digits spelled out so "1 2 3" matches "one two three" (Whisper
/// writes numbers as digits).
pub fn words(text: &str) -> Vec<String> {
    const NUMBERS: [&str; 11] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            w.parse::<usize>().ok().and_then(|n| NUMBERS.get(n)).map_or(w, |s| s.to_string())
        })
        .collect()
}

/// Reference words that occur in `heard`, in reference order, without repeats.
pub fn matched_words(reference: &str, heard: &str) -> Vec<String> {
    let heard = words(heard);
    let mut out: Vec<String> = Vec::new();
    for w in words(reference) {
        if heard.contains(&w) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Uploads `wav` for transcription with model `ep.model`; `reference` is what it says.
pub fn transcribe(ep: &Endpoint, wav: &[u8], reference: &str, t: &Timeouts) -> Result<Transcription, InferError> {
    let url = format!("{}/audio/transcriptions", ep.base.trim_end_matches('/'));
    let audio_s = wav_seconds(wav)
        .ok_or_else(|| InferError::Malformed { url: url.clone(), reason: "the smoke clip is not a PCM WAV".into() })?;
    let fields = [
        FormField::File { name: "file", file_name: "hello-world.wav", mime: "audio/wav", bytes: wav },
        FormField::Text { name: "model", value: &ep.model },
        FormField::Text { name: "response_format", value: "json" },
    ];
    let client = Client::live(*t).bearer(ep.api_key.as_deref());
    let started = Instant::now();
    let mut resp = client.post_multipart(&url, &fields).map_err(|e| request_error(&url, e, started))?;
    let status = resp.status();
    let body = resp.text(1024 * 1024).map_err(|e| body_error(&url, "the transcription", e, started))?;
    if !(200..300).contains(&status) {
        return Err(status_error(&url, &ep.model, status, body));
    }
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    // `response_format=json` answers {"text": …}; a server that ignores it may answer text.
    let text = match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) => match v["text"].as_str() {
            Some(s) => s.trim().to_string(),
            None => {
                return Err(InferError::Malformed {
                    url,
                    reason: format!("JSON without a \"text\" field: {}", truncate(&body)),
                });
            }
        },
        Err(_) if !body.trim_start().starts_with(['{', '[', '<']) => body.trim().to_string(),
        Err(e) => return Err(InferError::Malformed { url, reason: format!("not JSON ({e}): {}", truncate(&body)) }),
    };
    Ok(Transcription {
        matched: matched_words(reference, &text),
        reference_words: words(reference).len(),
        reference: reference.to_string(),
        speed: audio_s / (total_ms / 1e3).max(1e-6),
        audio_s,
        total_ms,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn the_shipped_clip_is_a_16khz_wav_of_a_few_seconds() {
        let s = wav_seconds(SMOKE_WAV).unwrap();
        assert!((3.0..5.0).contains(&s), "{s}");
        // fmt chunk: PCM, mono, 16000 Hz, 16-bit.
        assert_eq!(u16::from_le_bytes([SMOKE_WAV[20], SMOKE_WAV[21]]), 1);
        assert_eq!(u16::from_le_bytes([SMOKE_WAV[22], SMOKE_WAV[23]]), 1);
        assert_eq!(u32::from_le_bytes(SMOKE_WAV[24..28].try_into().unwrap()), 16000);
        assert_eq!(u16::from_le_bytes([SMOKE_WAV[34], SMOKE_WAV[35]]), 16);
    }

    #[test]
    fn garbage_is_not_a_wav() {
        for b in
            [&b""[..], b"RIFF", b"RIFF\0\0\0\0WAVE", b"RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff", b"OggS........"]
        {
            assert_eq!(wav_seconds(b), None, "{b:?}");
        }
    }

    #[test]
    fn words_match_across_digits_and_case() {
        assert_eq!(matched_words(SMOKE_TEXT, "Hello, world! Testing 1, 2, 3."), words(SMOKE_TEXT));
        assert_eq!(matched_words(SMOKE_TEXT, "oh where are all use the one to three"), vec!["one", "three"]);
        assert!(matched_words(SMOKE_TEXT, "").is_empty());
        assert_eq!(words(SMOKE_TEXT).len(), 6);
    }

    /// Answers one request with `reply` after reading the request until its body is in.
    fn serve(reply: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                let mut buf = vec![0u8; 1 << 20];
                let mut got = Vec::new();
                // Read until the multipart closing boundary arrives (or the client pauses).
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"--\r\n") && got.len() > SMOKE_WAV.len() {
                        break;
                    }
                }
                let _ = s.write_all(reply.as_bytes());
            }
        });
        format!("http://{addr}/api/v1")
    }

    fn ep(base: String) -> Endpoint {
        Endpoint { base, model: "whisper-v3-turbo-FLM".into(), api_key: None }
    }

    #[test]
    fn transcribes_and_compares() {
        let base = serve(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{\"text\":\" Hello world. Testing 1, 2.\"}  ",
        );
        let t = transcribe(&ep(base), SMOKE_WAV, SMOKE_TEXT, &Timeouts::default()).unwrap();
        assert_eq!(t.text, "Hello world. Testing 1, 2.");
        assert_eq!(t.matched, vec!["hello", "world", "testing", "one", "two"]);
        assert_eq!(t.reference_words, 6);
        assert!(t.speed > 0.0 && t.audio_s > 3.0);
    }

    #[test]
    fn errors_are_specific() {
        let nf = serve(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 27\r\nConnection: close\r\n\r\n{\"error\":\"model not found\"}",
        );
        let e = transcribe(&ep(nf), SMOKE_WAV, SMOKE_TEXT, &Timeouts::default()).unwrap_err();
        assert!(matches!(e, InferError::ModelNotFound { .. }), "{e}");
        let no_text = serve("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"words\":1}");
        let e = transcribe(&ep(no_text), SMOKE_WAV, SMOKE_TEXT, &Timeouts::default()).unwrap_err();
        assert!(e.to_string().contains("without a \"text\" field"), "{e}");
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = transcribe(&ep(format!("http://{closed}/api/v1")), SMOKE_WAV, SMOKE_TEXT, &Timeouts::default())
            .unwrap_err();
        assert!(matches!(e, InferError::Connect { .. }), "{e}");
        let e = transcribe(&ep("http://127.0.0.1:9/api/v1".into()), b"not audio", SMOKE_TEXT, &Timeouts::default())
            .unwrap_err();
        assert!(e.to_string().contains("not a PCM WAV"), "{e}");
    }
}
