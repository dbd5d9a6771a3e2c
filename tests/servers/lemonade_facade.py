#!/usr/bin/env python3
"""Minimal Lemonade-server stand-in for npu-setup's tests (stdlib only).

Imitates the slice of Lemonade's HTTP API (v10.x, see
https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/docs/server/server_spec.md) that npu-setup talks to,
and forwards chat completions to a real llama-server:

    python3 lemonade_facade.py PORT BACKEND_URL [--api-key KEY]
        [--model NAME ...] [--backend-model NAME] [--flm-state STATE]

  PORT          port on 127.0.0.1 (0 = pick a free one)
  BACKEND_URL   base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:18081
  --api-key     require `Authorization: Bearer KEY` on everything but /live
                (default: $LEMONADE_API_KEY; empty = no auth)
  --model       catalogue entries (default: qwen3-0.6b-FLM, qwen3-4b-FLM);
                names ending in -FLM are recipe "flm" on device "npu",
                others recipe "llamacpp" on "gpu"
  --backend-model  value written into the forwarded "model" field
                (default: first id from BACKEND_URL/v1/models)
  --flm-state   system-info state of the flm backend (default: installed)

Routes exist under /api/v0, /api/v1 and /v1, like Lemonade:
  GET  /live                      {"status":"ok"}   (never needs the key)
  GET  .../health                 status, version, model_loaded, all_models_loaded
  GET  .../system-info            devices + recipes.<r>.backends.<b>.state
  GET  .../models                 OpenAI-style list of the catalogue
  POST .../load  {"model_name"}   404 for unknown names
  POST .../unload {"model_name"?}
  POST .../chat/completions       400 when nothing is loaded, else proxied;
                                  SSE bytes are passed through unchanged
  POST .../audio/transcriptions   multipart `file` (16 kHz mono PCM WAV) + `model`;
                                  the model must be a loaded whisper* entry. Speech is
                                  recognised for real by PocketSphinx (PyPI `pocketsphinx`,
                                  which ships its en-us model) when it is importable (put it
                                  on PYTHONPATH); otherwise 503. It is not Whisper: no
                                  Whisper weights are reachable from package registries.
Errors use Lemonade's shape {"error": {"message": ..., "type": ...}}.
Prints "LEMONADE_FACADE_PORT=<port>" once listening; exits 0 on SIGTERM/SIGINT.
"""
import argparse
import email.parser
import email.policy
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "10.3.0"
PREFIXES = ("/api/v0", "/api/v1", "/v1")


class State:
    def __init__(self, args):
        self.args, self.lock, self.loaded = args, threading.Lock(), {}
        self.backend = urllib.parse.urlsplit(args.backend_url.rstrip("/"))
        self.backend_model = args.backend_model

    def entry(self, name):
        flm = name.endswith("-FLM")
        return {"model_name": name, "checkpoint": name[:-4].replace("-", ":", 1) if flm else name,
                "last_use": time.time(), "type": kind(name), "device": "npu" if flm else "gpu",
                "recipe": "flm" if flm else "llamacpp", "recipe_options": {"ctx_size": 4096},
                "backend_url": self.args.backend_url.rstrip("/") + "/v1"}

    def conn(self, timeout=300):
        return http.client.HTTPConnection(self.backend.hostname, self.backend.port or 80, timeout=timeout)

    def target_model(self):
        if self.backend_model is None:  # ask the backend once what it calls its model
            try:
                c = self.conn(10)
                c.request("GET", self.backend.path + "/v1/models")
                self.backend_model = json.loads(c.getresponse().read())["data"][0]["id"]
            except (OSError, ValueError, KeyError, IndexError):
                return None
        return self.backend_model


def kind(name):
    return "audio" if name.lower().startswith("whisper") else "llm"


def recognise(wav_bytes):
    """Real speech recognition of a 16 kHz mono 16-bit WAV with PocketSphinx."""
    import io
    import wave
    from pocketsphinx import Decoder  # noqa: import here so the facade runs without it
    with wave.open(io.BytesIO(wav_bytes)) as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 16000):
            raise ValueError(f"want 16 kHz mono 16-bit PCM, got {w.getnchannels()} ch, "
                             f"{8 * w.getsampwidth()} bit, {w.getframerate()} Hz")
        pcm = w.readframes(w.getnframes())
    d = Decoder(samprate=16000)
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    return d.hyp().hypstr if d.hyp() else ""


def error(message, etype, status):
    return status, {"error": {"message": message, "type": etype}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lemonade-facade/" + VERSION
    st: State = None  # set in main()

    def log_message(self, fmt, *a):  # quiet unless LEMONADE_FACADE_LOG=1
        if os.environ.get("LEMONADE_FACADE_LOG") == "1":
            super().log_message(fmt, *a)

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if method == "GET" and path == "/live":
            return self.send_json(200, {"status": "ok"})
        prefix = next((p for p in PREFIXES if path.startswith(p + "/")), None)
        if prefix is None:
            return self.send_json(*error(f"Not found: {path}", "invalid_request", 404))
        key = self.st.args.api_key
        if key and self.headers.get("Authorization", "") != f"Bearer {key}":
            return self.send_json(*error("Invalid or missing API key", "authentication_error", 401))
        ep = path[len(prefix) + 1:]
        raw = self.read_body() if method == "POST" else b""
        ctype = self.headers.get("Content-Type", "")
        try:
            if ctype.startswith("multipart/form-data"):
                msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
                if not msg.is_multipart():
                    raise ValueError("not a multipart body")
                body = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                        for part in msg.iter_parts()}
            else:
                body = json.loads(raw or b"{}")
        except ValueError as e:
            return self.send_json(*error(f"Invalid request body: {e}", "invalid_request", 400))
        handler = getattr(self, f"{method.lower()}_{ep.replace('/', '_').replace('-', '_')}", None)
        if handler is None:
            return self.send_json(*error(f"Not found: {path}", "invalid_request", 404))
        res = handler(body)
        if res is not None:
            self.send_json(*res)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                out += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return out
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def get_health(self, _):
        with self.st.lock:
            loaded = list(self.st.loaded.values())
        return 200, {"status": "ok", "version": VERSION,
                     "model_loaded": loaded[-1]["model_name"] if loaded else None,
                     "all_models_loaded": loaded,
                     "max_models": {"llm": 1, "embedding": 1, "reranking": 1, "audio": 1}}

    def get_system_info(self, _):
        flm = {"npu": {"devices": ["amd_npu"], "state": self.st.args.flm_state, "version": "v0.9.35",
                       "message": "" if self.st.args.flm_state == "installed" else "FLM not ready"}}
        return 200, {"OS Version": "Linux (lemonade_facade)", "Processor": "AMD Ryzen AI (simulated)",
                     "devices": {"cpu": {"name": "x86_64", "available": True},
                                 "amd_npu": {"name": "AMD NPU", "family": "XDNA2", "available": True}},
                     "recipes": {"flm": {"backends": flm},
                                 "llamacpp": {"backends": {"cpu": {"devices": ["cpu"], "state": "installed"}}}}}

    def get_models(self, _):
        return 200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "lemonade", "downloaded": True,
             "recipe": self.st.entry(m)["recipe"], "checkpoint": self.st.entry(m)["checkpoint"]}
            for m in self.st.args.model]}

    def post_load(self, body):
        name = body.get("model_name") or body.get("model")
        if name not in self.st.args.model:
            return error(f"Model not found: {name}", "model_not_found", 404)
        with self.st.lock:  # Lemonade v10 keeps one model per type: loading replaces that type
            self.st.loaded = {k: v for k, v in self.st.loaded.items() if v["type"] != kind(name)}
            self.st.loaded[name] = self.st.entry(name)
        return 200, {"status": "success", "message": f"Loaded model: {name}"}

    def post_unload(self, body):
        with self.st.lock:
            name = body.get("model_name")
            self.st.loaded = {k: v for k, v in self.st.loaded.items() if name and k != name}
        return 200, {"status": "success", "message": "Models unloaded successfully"}

    def post_audio_transcriptions(self, body):
        name = (body.get("model") or b"").decode()
        with self.st.lock:
            if name not in self.st.loaded or kind(name) != "audio":
                return error(f"Model not loaded or not an audio model: {name}", "model_not_loaded", 400)
        if not body.get("file"):
            return error("missing multipart field 'file'", "invalid_request", 400)
        try:
            text = recognise(body["file"])
        except ImportError:
            return error("no speech engine here (pocketsphinx not importable)", "backend_error", 503)
        except (ValueError, EOFError, Exception) as e:  # wave.Error is an Exception subclass
            return error(f"cannot decode audio: {e}", "invalid_request", 400)
        return 200, {"text": text}

    def post_chat_completions(self, body):
        with self.st.lock:
            if not any(v["type"] == "llm" for v in self.st.loaded.values()):
                return error("No model loaded", "model_not_loaded", 400)
        target = self.st.target_model()
        if target:
            body["model"] = target
        data = json.dumps(body).encode()
        try:
            c = self.st.conn()
            c.request("POST", self.st.backend.path + "/v1/chat/completions", data,
                      {"Content-Type": "application/json", "Accept": self.headers.get("Accept", "*/*")})
            resp = c.getresponse()
        except OSError as e:
            return error(f"llamacpp error: {e}", "backend_error", 502)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
        if body.get("stream"):
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := resp.read1(65536):  # forward bytes as they arrive
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            payload = resp.read()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        c.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", type=int)
    p.add_argument("backend_url")
    p.add_argument("--api-key", default=os.environ.get("LEMONADE_API_KEY", ""))
    p.add_argument("--model", action="append")
    p.add_argument("--backend-model")
    p.add_argument("--flm-state", default="installed",
                   choices=["installed", "installable", "update_required", "unsupported"])
    args = p.parse_args(argv)
    args.model = args.model or ["qwen3-0.6b-FLM", "qwen3-4b-FLM"]
    Handler.st = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    stop = lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"LEMONADE_FACADE_PORT={srv.server_address[1]}", flush=True)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
