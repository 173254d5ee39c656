//! The limits of `infer serve` over real HTTP (the server and helpers of `serve.rs`): a
//! picture being decoded holds up no other request; pictures over the pixel budget, shifts and
//! indices out of range are refused; slow clients are cut off; requests for other host names
//! are refused; SIGINT and SIGTERM stop the server, within a bounded time.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use flate2::Crc;
use flate2::write::ZlibEncoder;
use serde_json::Value;

use super::common::model_dir;
use super::serve::*;

/// The server's limits (`crates/infer/src/bin/infer/serve/mod.rs`), in seconds: the time a
/// client has for a request's headers, for its body, and the grace requests get on shutdown.
const HEADER_READ_TIMEOUT: u64 = 10;
const BODY_READ_TIMEOUT: u64 = 20;
const SHUTDOWN_GRACE: u64 = 5;

/// A grey PNG whose header declares `width` x `height` pixels, holding `rows` rows of data,
/// each made by `row(y)`: with fewer rows than `height`, only a decoder notices it is short.
fn gray_png(width: u32, height: u32, rows: u32, row: impl Fn(u32) -> Vec<u8>) -> Vec<u8> {
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        let mut crc = Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 8-bit grey, deflate, the standard filters, not interlaced.
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut data = ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for y in 0..rows {
        data.write_all(&[0]).unwrap();
        data.write_all(&row(y)).unwrap();
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &data.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn a_picture_over_the_pixel_budget_is_refused_before_it_is_decoded() {
    let server = Server::start(&[model_dir()]);
    // 20000x20000 declared (400 MB decoded), one row of it sent: a decoder would say the
    // picture is truncated (415); the budget refuses it from its header alone.
    let png = gray_png(20_000, 20_000, 1, |_| vec![255; 20_000]);
    let (status, error) = post(&server.url("/api/predict"), "image/png", &png);
    assert_eq!(status, 413, "{error}");
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("20000x20000") && text.contains("megapixels"),
        "{text}"
    );
    // Still serving.
    let (status, _) = get(&server.url("/api/models"));
    assert_eq!(status, 200);
}

#[test]
fn a_picture_being_decoded_holds_up_no_other_request() {
    // More pictures at once than a 2-core machine has async threads (one per core), each as
    // large as the budget allows (4096x4096), then the model list, which must not wait for
    // them.
    const PICTURES: usize = 4;
    const SIDE: u32 = 4096;
    let server = Server::start(&[model_dir()]);
    let png = gray_png(SIDE, SIDE, SIDE, |y| {
        // A dark bar on white: a "1".
        let mut row = vec![255u8; SIDE as usize];
        if (SIDE / 5..SIDE * 4 / 5).contains(&y) {
            row[(SIDE / 3) as usize..(SIDE / 3 + SIDE / 10) as usize].fill(0);
        }
        row
    });
    let url = server.url("/api/predict");
    let (pictures, models) = std::thread::scope(|scope| {
        let pictures: Vec<_> = (0..PICTURES)
            .map(|_| {
                scope.spawn(|| {
                    let sent = Instant::now();
                    let (status, look) = post(&url, "image/png", &png);
                    assert_eq!(status, 200, "{look}");
                    assert_eq!(look["digit"], 1, "{look}");
                    sent.elapsed()
                })
            })
            .collect();
        // The pictures are in (tens of KB each) and being decoded.
        std::thread::sleep(Duration::from_millis(200));
        let sent = Instant::now();
        let (status, _) = get(&server.url("/api/models"));
        assert_eq!(status, 200);
        let models = sent.elapsed();
        let pictures: Vec<Duration> = pictures.into_iter().map(|p| p.join().unwrap()).collect();
        (pictures, models)
    });
    let fastest = pictures.iter().min().unwrap();
    println!("/api/models answered in {models:?} while {PICTURES} pictures took {pictures:?}");
    assert!(
        models < *fastest / 2,
        "/api/models took {models:?}, waiting for the pictures ({pictures:?})"
    );
}

#[test]
fn shifts_and_indices_out_of_range_are_refused_even_at_the_integers_ends() {
    let server = Server::start(&[model_dir()]);
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let digit = pixels_json(test.image(0));
    for (query, message) in [
        // -2147483648 has no absolute value in i32.
        ("dx=-2147483648", "dx = -2147483648"),
        ("dy=-2147483648", "dy = -2147483648"),
        ("dx=2147483647", "dx = 2147483647"),
        ("dy=-9", "dy = -9"),
        ("dx=2147483648", "dx"),
        ("dx=1.5", "dx"),
    ] {
        let url = server.url(&format!("/api/predict?{query}"));
        let (status, error) = post(&url, "application/json", &digit);
        assert_eq!(status, 400, "{query}: {error}");
        let text = error["error"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text:?}");
    }
    for (query, status) in [
        ("index=-1", 400),
        ("index=18446744073709551615", 404),
        ("index=18446744073709551616", 400),
    ] {
        let (got, error) = get(&server.url(&format!("/api/sample?{query}")));
        assert_eq!(got, status, "{query}: {error}");
        assert!(error["error"].is_string(), "{query}: {error}");
    }
    // The ends of the range are shifts.
    let (status, look) = post(
        &server.url("/api/predict?dx=-8&dy=8"),
        "application/json",
        &digit,
    );
    assert_eq!(status, 200, "{look}");
}

/// Connects to `address`, sends `head`, then `trickle` one byte every `every`, reading what
/// comes back; returns what was read and how long after connecting the server closed the
/// connection (`None`: still open when all was sent).
fn trickle(
    address: &str,
    head: &str,
    trickle: &[u8],
    every: Duration,
) -> (String, Option<Duration>) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(every)).unwrap();
    let connected = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    for byte in trickle {
        // A write after the server closed fails (at the latest the second one).
        let sent = stream.write_all(&[*byte]).is_ok();
        match stream.read(&mut buffer) {
            Ok(0) => {
                return (
                    String::from_utf8_lossy(&answer).into(),
                    Some(connected.elapsed()),
                );
            }
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !sent {
                    return (
                        String::from_utf8_lossy(&answer).into(),
                        Some(connected.elapsed()),
                    );
                }
            }
            Err(_) => {
                return (
                    String::from_utf8_lossy(&answer).into(),
                    Some(connected.elapsed()),
                );
            }
        }
    }
    (String::from_utf8_lossy(&answer).into(), None)
}

#[test]
fn a_client_slow_to_send_its_headers_is_cut_off() {
    let server = Server::start(&[model_dir()]);
    let address = server.address().to_string();
    // Headers that would take a minute to arrive at 2 bytes a second.
    let head = format!("GET /api/models HTTP/1.1\r\nHost: {address}\r\nX-Slow: ");
    let (answer, closed) = trickle(&address, &head, &[b'a'; 120], Duration::from_millis(500));
    let closed = closed.expect("the connection was still open after a minute");
    assert!(
        closed < Duration::from_secs(HEADER_READ_TIMEOUT + 5),
        "closed after {closed:?}"
    );
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(error_of(&answer).contains("headers"), "{answer}");
    // A connection that sends nothing at all is closed too, without an answer.
    let mut idle = std::net::TcpStream::connect(server.address()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(HEADER_READ_TIMEOUT + 5)))
        .unwrap();
    let opened = Instant::now();
    assert_eq!(
        idle.read(&mut [0u8; 16]).unwrap_or(0),
        0,
        "closed without an answer"
    );
    assert!(opened.elapsed() < Duration::from_secs(HEADER_READ_TIMEOUT + 5));
    // Still serving.
    let (status, _) = get(&server.url("/api/models"));
    assert_eq!(status, 200);
}

#[test]
fn a_client_slow_to_send_its_body_gets_408() {
    let server = Server::start(&[model_dir()]);
    let address = server.address().to_string();
    // A body of 1000 bytes sent at 2 bytes a second: 500 s.
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    let (answer, closed) = trickle(&address, &head, &[0; 1000], Duration::from_millis(500));
    let closed = closed.expect("the connection was still open after 500 s");
    assert!(
        closed < Duration::from_secs(BODY_READ_TIMEOUT + 5),
        "closed after {closed:?}"
    );
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(error_of(&answer).contains("body"), "{answer}");
}

#[test]
fn sigterm_stops_the_server_within_its_grace_while_clients_are_slow() {
    let server = Server::start(&[model_dir()]);
    let address = server.address().to_string();
    // A request whose headers are half sent, and one whose body trickles: both still going
    // when the signal comes.
    let heads = [
        format!("POST /api/predict HTTP/1.1\r\nHost: {address}\r\nX-Slow: "),
        format!(
            "POST /api/predict HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\n\
             Content-Length: 1000\r\n\r\n"
        ),
    ];
    let clients: Vec<_> = heads
        .into_iter()
        .map(|head| {
            let address = address.clone();
            std::thread::spawn(move || {
                trickle(&address, &head, &[b'a'; 120], Duration::from_millis(500))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (stopped, printed, took) = server.signal(
        libc::SIGTERM,
        Duration::from_secs(HEADER_READ_TIMEOUT.min(BODY_READ_TIMEOUT)),
    );
    assert!(
        stopped,
        "the server exits successfully on SIGTERM: {printed}"
    );
    assert!(printed.contains("stopped"), "{printed}");
    assert!(
        took < Duration::from_secs(SHUTDOWN_GRACE + 3),
        "the server took {took:?} to stop"
    );
    for client in clients {
        let (_, closed) = client.join().unwrap();
        assert!(closed.is_some(), "the connection was closed");
    }
}

#[test]
fn media_types_broken_chunks_and_wrong_methods_get_their_status_and_a_json_error() {
    let server = Server::start(&[model_dir()]);
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let digit = pixels_json(test.image(0));
    // Media types are case-insensitive, and may have parameters.
    for content_type in ["Application/JSON", "APPLICATION/json; charset=UTF-8"] {
        let (status, look) = post(&server.url("/api/predict"), content_type, &digit);
        assert_eq!(status, 200, "{content_type}: {look}");
        assert_eq!(look["digit"], 7, "{content_type}");
    }
    // A chunked body whose chunk size is no number: a bad request, not a body too large.
    let address = server.address().to_string();
    let (status, answer) = send_raw(
        &server,
        &format!(
            "POST /api/predict HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        ),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(error_of(&answer).contains("cannot be read"), "{answer}");
    // Methods a path does not take: 405, the Allow header, and a JSON error.
    for (request, path, allowed) in [
        (
            minreq::delete(server.url("/api/models")),
            "/api/models",
            "GET",
        ),
        (
            minreq::options(server.url("/api/predict")),
            "/api/predict",
            "POST",
        ),
        (
            minreq::get(server.url("/api/predict")),
            "/api/predict",
            "POST",
        ),
        (minreq::post(server.url("/")), "/", "GET"),
    ] {
        let response = request.with_timeout(TIMEOUT).send().unwrap();
        assert_eq!(response.status_code, 405, "{path}");
        assert!(response.headers["allow"].contains(allowed), "{path}");
        assert!(
            response.headers["content-type"].starts_with("application/json"),
            "{path}"
        );
        let body: Value = serde_json::from_str(response.as_str().unwrap()).unwrap();
        assert!(body["error"].as_str().unwrap().contains(path), "{body}");
    }
}

#[test]
fn json_pixels_without_a_digit_get_422_as_pictures_do() {
    let server = Server::start(&[model_dir()]);
    for (what, level) in [
        ("all background", 0u8),
        ("all ink", 255),
        ("flat grey", 128),
    ] {
        let (status, error) = post(
            &server.url("/api/predict"),
            "application/json",
            &pixels_json(&[level; 784]),
        );
        assert_eq!(status, 422, "{what}: {error}");
        let text = error["error"].as_str().unwrap();
        assert!(text.contains("no digit found"), "{what}: {text:?}");
    }
}

#[test]
fn on_loopback_only_this_machines_names_are_answered_and_answers_carry_security_headers() {
    let server = Server::start(&[model_dir()]);
    let address = server.address().to_string();
    let port = address.rsplit(':').next().unwrap();
    let ask = |host: Option<&str>| {
        let host = host.map_or(String::new(), |host| format!("Host: {host}\r\n"));
        send_raw(
            &server,
            &format!("GET /api/models HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        )
    };
    // DNS rebinding: another site's name for 127.0.0.1.
    for host in [
        Some("evil.example".to_string()),
        Some(format!("evil.example:{port}")),
        Some("localhost".to_string()),
        None,
    ] {
        let (status, answer) = ask(host.as_deref());
        assert_eq!(status, 403, "{host:?}: {answer}");
        assert!(error_of(&answer).contains("DNS rebinding"), "{answer}");
        assert!(
            answer.contains("x-content-type-options: nosniff"),
            "{answer}"
        );
    }
    for host in [
        address.clone(),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, answer) = ask(Some(&host));
        assert_eq!(status, 200, "{host}: {answer:.300}");
    }
    // Every answer says its content type is not to be guessed; the page has its CSP.
    for path in ["/", "/app.js", "/style.css", "/api/models", "/api/nothing"] {
        let response = minreq::get(server.url(path))
            .with_timeout(TIMEOUT)
            .send()
            .unwrap();
        assert_eq!(
            response
                .headers
                .get("x-content-type-options")
                .map(String::as_str),
            Some("nosniff"),
            "{path}"
        );
    }
    let page = minreq::get(server.url("/"))
        .with_timeout(TIMEOUT)
        .send()
        .unwrap();
    let policy = &page.headers["content-security-policy"];
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(server.stderr().is_empty(), "no warning on loopback");
}

#[test]
fn serving_beyond_loopback_warns() {
    let server = Server::start_with(&[model_dir()], &["--host", "0.0.0.0"]);
    let (status, _) = get(&server.url("/api/models"));
    assert_eq!(status, 200);
    let stderr = server.stderr();
    assert!(stderr.contains("warning: serving on 0.0.0.0"), "{stderr}");
}

/// Arbitrary requests to every route (query strings, methods, media types, bodies): each gets
/// an answer below 500, an error answer is JSON with an `error`, and the server goes on serving.
#[test]
fn arbitrary_requests_to_every_route_get_a_status_below_500() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let server = Server::start(&[model_dir()]);
    let address = server.address().to_string();
    let route = prop_oneof![
        Just("/"),
        Just("/api/models"),
        Just("/api/predict"),
        Just("/api/sample"),
        Just("/api/nothing"),
    ];
    let method = prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("OPTIONS")];
    let query = "[a-z=&%0-9+.\\-]{0,40}";
    let media = prop_oneof![
        Just("application/json"),
        Just("Application/JSON; charset=utf-8"),
        Just("image/png"),
        Just("text/plain"),
    ];
    let body = "[ -~]{0,200}";
    let mut runner = TestRunner::new(Config::with_cases(96));
    runner
        .run(
            &(route, method, query, media, body),
            |(route, method, query, media, body)| {
                let request = format!(
                    "{method} {route}?{query} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {media}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let (status, answer) = send_raw(&server, &request);
                prop_assert!((200..500).contains(&status), "{request:?}: {answer}");
                if status >= 400 {
                    prop_assert!(!error_of(&answer).is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
    let (status, _) = get(&format!("http://{address}/api/models"));
    assert_eq!(status, 200);
}
