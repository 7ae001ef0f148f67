//! An HTTP server on axum 0.8 and tokio's default runtime.
//!
//! Usage: `axum-server PORT` (0 picks a free port). Prints `axum-server: listening on
//! 0.0.0.0:PORT` once it accepts connections, then serves until killed:
//!
//! - `GET /json`: `{"server":"axum-server","greeting":"hello","routes":[...]}`
//! - `POST /json` with `{"name":S,"numbers":[i64...]}`: `{"greeting":"hello, S","count":N,
//!   "sum":N,"sorted":[...]}`; a body that is not such JSON gets 4xx from axum's `Json` extractor
//! - `GET /bytes/{n}`: n bytes (at most 16 MiB) of the repeating alphabet `abc...z`
//! - `POST /upload`: any body up to 16 MiB; answers `{"length":N,"sha256":"HEX"}`

use axum::extract::{DefaultBodyLimit, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, body::Bytes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::process::ExitCode;

const MAX_BODY: usize = 16 << 20;

#[derive(Serialize)]
struct Info {
    server: &'static str,
    greeting: &'static str,
    routes: [&'static str; 5],
}

async fn info() -> Json<Info> {
    Json(Info {
        server: "axum-server",
        greeting: "hello",
        routes: ["GET /json", "POST /json", "GET /bytes/{n}", "POST /upload", "GET /"],
    })
}

#[derive(Deserialize)]
struct Numbers {
    name: String,
    numbers: Vec<i64>,
}

#[derive(Serialize)]
struct Summary {
    greeting: String,
    count: usize,
    sum: i64,
    sorted: Vec<i64>,
}

async fn summarize(Json(input): Json<Numbers>) -> Json<Summary> {
    let mut sorted = input.numbers;
    sorted.sort_unstable();
    Json(Summary {
        greeting: format!("hello, {}", input.name),
        count: sorted.len(),
        sum: sorted.iter().sum(),
        sorted,
    })
}

async fn bytes(Path(n): Path<usize>) -> Result<Vec<u8>, (StatusCode, String)> {
    if n > MAX_BODY {
        return Err((StatusCode::BAD_REQUEST, format!("at most {MAX_BODY} bytes\n")));
    }
    Ok(b"abcdefghijklmnopqrstuvwxyz".iter().copied().cycle().take(n).collect())
}

#[derive(Serialize)]
struct Upload {
    length: usize,
    sha256: String,
}

async fn upload(body: Bytes) -> Result<Json<Upload>, StatusCode> {
    let length = body.len();
    let digest = tokio::task::spawn_blocking(move || Sha256::digest(&body))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Json(Upload { length, sha256 }))
}

async fn index() -> &'static str {
    "axum-server: try GET /json, POST /json, GET /bytes/{n}, POST /upload\n"
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(port) = std::env::args().nth(1).and_then(|a| a.parse::<u16>().ok()) else {
        eprintln!("usage: axum-server PORT");
        return ExitCode::from(2);
    };
    let app = Router::new()
        .route("/", get(index))
        .route("/json", get(info).post(summarize))
        .route("/bytes/{n}", get(bytes))
        .route("/upload", post(upload))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum-server: bind 0.0.0.0:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("axum-server: listening on {addr}"),
        Err(e) => {
            eprintln!("axum-server: local_addr: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("axum-server: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
