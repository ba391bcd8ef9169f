//! The transport limit: a bare hyper HTTP/1.1 server that reads each body completely into one buffer
//! (as a webhook must before parsing) and answers 200 with an empty body. Nothing else.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves until `lifetime` has passed (the server always stops by itself).
pub async fn serve(listener: TcpListener, lifetime: Duration) {
    let bytes_read = Arc::new(AtomicU64::new(0));
    let stop = tokio::time::sleep(lifetime);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let counter = bytes_read.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let counter = counter.clone();
                async move { Ok::<_, Infallible>(read_body(req, &counter).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
    eprintln!(
        "bare server: lifetime over, {} body bytes read",
        bytes_read.load(Ordering::Relaxed)
    );
}

async fn read_body(req: Request<Incoming>, counter: &AtomicU64) -> Response<Full<Bytes>> {
    match req.into_body().collect().await {
        Ok(body) => {
            let body = body.to_bytes();
            counter.fetch_add(body.len() as u64, Ordering::Relaxed);
            Response::new(Full::new(Bytes::new()))
        }
        Err(_) => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"bad body")));
            *r.status_mut() = hyper::StatusCode::BAD_REQUEST;
            r
        }
    }
}
