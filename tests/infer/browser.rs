//! The `infer serve` page in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven through WebDriver, draws a digit with pointer events on the
//! canvas, then reads the predicted digit, the rendered feature maps, the saliency maps, the
//! story of a clicked map pixel and a shift curve from the page. The digit must be the API's answer for the same drawing.
//! Screenshots of the page, laptop and phone sized, and of the shift curves are saved under
//! `target/tmp/` (`serve-laptop.png`, `serve-phone.png`, `serve-pixel.png`, `serve-shifts.png`). A second test
//! opens a shared address and checks that the page shows the state it holds.
//!
//! WebDriver is JSON over HTTP, so the session is a few requests with the HTTP client the
//! server tests use. Without `chromedriver` and `chromium` the test prints that it did not
//! run and passes, unless `REQUIRE_BROWSER=1` is set (as in CI), in which case it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::common::{committee_dir, model_dir};
use super::serve::{Server, get, post};

/// The browser and its driver, or why they cannot run.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let find = |variable: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(variable) {
            return Some(PathBuf::from(path));
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    };
    let driver = find("CHROMEDRIVER", &["chromedriver"])
        .ok_or("no chromedriver on PATH (Debian: apt-get install chromium-driver)")?;
    let chromium = find("CHROME", &["chromium", "chromium-browser", "google-chrome"])
        .ok_or("no chromium on PATH (Debian: apt-get install chromium)")?;
    Ok((driver, chromium))
}

/// A chromedriver process and one browser session in it; both end when dropped.
pub(super) struct Browser {
    driver: Child,
    base: String,
}

impl Browser {
    pub(super) fn start(driver: &PathBuf, chromium: &PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_for("chromedriver to listen", || {
            minreq::get(format!("{}/status", browser.base))
                .with_timeout(2)
                .send()
                .ok()
                .filter(|r| r.status_code == 200)
        });
        let session = browser.call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--hide-scrollbars"],
                },
            }}}),
        );
        let id = session["sessionId"].as_str().expect("a session id");
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    /// One WebDriver command; returns its `value`.
    pub(super) fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => minreq::get(url),
            "DELETE" => minreq::delete(url),
            _ => minreq::post(url)
                .with_header("Content-Type", "application/json")
                .with_body(body.to_string()),
        };
        let response = request
            .with_timeout(60)
            .send()
            .expect("chromedriver answers");
        let answer: Value = serde_json::from_str(response.as_str().unwrap()).unwrap();
        assert_eq!(
            response.status_code, 200,
            "WebDriver {method} {path}: {answer}"
        );
        answer["value"].clone()
    }

    pub(super) fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    pub(super) fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        );
    }

    pub(super) fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.base.contains("/session/") {
            minreq::delete(&self.base).with_timeout(10).send().ok();
        }
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

/// Polls `probe` for up to 30 s.
pub(super) fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A pointer stroke through `points`, pixels from `centre` (in the viewport).
pub(super) fn stroke(centre: (i64, i64), points: &[(i64, i64)]) -> Value {
    let at = |(x, y): (i64, i64), duration: u32| {
        json!({"type": "pointerMove", "duration": duration, "origin": "viewport",
               "x": centre.0 + x, "y": centre.1 + y})
    };
    let mut actions = vec![
        at(points[0], 0),
        json!({"type": "pointerDown", "button": 0}),
    ];
    actions.extend(points[1..].iter().map(|&p| at(p, 120)));
    actions.push(json!({"type": "pointerUp", "button": 0}));
    json!({"actions": [{
        "type": "pointer",
        "id": "pen",
        "parameters": {"pointerType": "mouse"},
        "actions": actions,
    }]})
}

/// What the page shows: the digit, and per conv layer the number of maps and how many of them
/// have any bright pixel.
const READ_PAGE: &str = r#"
    const layers = [...document.querySelectorAll('#maps .layer')].map((layer) => {
        const maps = [...layer.querySelectorAll('canvas')];
        const lit = maps.filter((c) => {
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < data.length; i += 4) if (data[i] > 0) return true;
            return false;
        }).length;
        return {title: layer.querySelector('h3').textContent, maps: maps.length, lit};
    });
    return {digit: document.getElementById('digit').textContent, layers,
            status: document.getElementById('status').textContent};
"#;

/// Where in the viewport the brightest pixel of conv1's first map is drawn, `[x, y]`.
const BRIGHTEST_CONV1_PIXEL: &str = r#"
    const canvas = document.querySelector('#maps .layer canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let best = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > data[best * 4]) best = i / 4;
    const box = canvas.getBoundingClientRect();
    return [Math.round(box.left + ((best % canvas.width) + 0.5) * box.width / canvas.width),
            Math.round(box.top + (Math.floor(best / canvas.width) + 0.5) * box.height / canvas.height)];
"#;

/// The class of the maps of "What it looks at" (unset until they are drawn) and how many
/// pixels of each map have any red (the saliency, and the occlusion's drops).
const READ_ATTENTION: &str = r#"
    const red = (id) => {
        const c = document.getElementById(id);
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > data[i + 1]) count++;
        return count;
    };
    return {class: document.getElementById('attention-card').dataset.class ?? null,
            saliency: red('saliency'), occlusion: red('occlusion')};
"#;

/// The browser and its driver; without them, says that the test did not run (which fails it
/// under `REQUIRE_BROWSER=1`).
pub(super) fn browser_or_say() -> Option<(PathBuf, PathBuf)> {
    browser()
        .map_err(|why| {
            crate::not_run::did_not_run(
                "REQUIRE_BROWSER",
                &format!("NO BROWSER: the browser test did not run: {why}"),
            )
        })
        .ok()
}

#[test]
fn a_digit_drawn_in_chromium_is_classified_and_its_feature_maps_and_saliency_shown() {
    let Some((driver, chromium)) = browser_or_say() else {
        return;
    };
    let server = Server::start(&[model_dir()]);
    let browser = Browser::start(&driver, &chromium);
    browser.resize(1280, 1900);
    browser.call("POST", "/url", json!({"url": server.url("/")}));
    wait_for("the page to list the models", || {
        (browser.run("return document.body.dataset.ready === 'true';") == json!(true)).then_some(())
    });

    // A 7: the bar, then the stem, drawn with pointer events on the canvas.
    let centre = browser.run(
        "const r = document.getElementById('pad').getBoundingClientRect(); \
         return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];",
    );
    let centre = (centre[0].as_i64().unwrap(), centre[1].as_i64().unwrap());
    browser.call(
        "POST",
        "/actions",
        stroke(
            centre,
            &[
                (-80, -90),
                (-20, -92),
                (40, -92),
                (80, -90),
                (40, -10),
                (0, 60),
                (-20, 110),
            ],
        ),
    );
    let shown = wait_for("the prediction and the feature maps", || {
        let page = browser.run(READ_PAGE);
        (page["digit"] != "?" && !page["layers"].as_array()?.is_empty()).then_some(page)
    });
    println!("the page shows: {shown}");
    let layers = shown["layers"].as_array().unwrap();
    let counts: Vec<u64> = layers.iter().map(|l| l["maps"].as_u64().unwrap()).collect();
    assert_eq!(counts, [6, 16], "LeNet-5's conv layers: {shown}");
    for layer in layers {
        assert!(
            layer["lit"].as_u64().unwrap() > 0,
            "a conv layer shows nothing: {layer}"
        );
    }

    // The digit on the page is the API's answer for the same drawing.
    let drawing = browser.run("return document.getElementById('pad').toDataURL('image/png');");
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            drawing
                .as_str()
                .unwrap()
                .trim_start_matches("data:image/png;base64,"),
        )
        .unwrap();
    let (status, answer) = post(&server.url("/api/predict"), "image/png", &png);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(shown["digit"], answer["digit"].to_string(), "page vs API");
    println!("the drawn 7 was read as {}", answer["digit"]);

    // What it looks at: the predicted class's saliency and occlusion maps, drawn.
    let attention = wait_for("the saliency and occlusion maps", || {
        let seen = browser.run(READ_ATTENTION);
        seen["class"].is_string().then_some(seen)
    });
    println!("what it looks at: {attention}");
    assert_eq!(
        attention["class"], shown["digit"],
        "the maps are the answer's"
    );
    for map in ["saliency", "occlusion"] {
        assert!(
            attention[map].as_u64().unwrap() > 0,
            "the {map} map shows nothing: {attention}"
        );
    }
    let laptop = browser.screenshot("serve-laptop.png");

    // Inside one pixel: a click on the brightest pixel of conv1's first map.
    let target = browser.run(BRIGHTEST_CONV1_PIXEL);
    let at = (target[0].as_i64().unwrap(), target[1].as_i64().unwrap());
    browser.call("POST", "/actions", stroke(at, &[(0, 0)]));
    let told = wait_for("inside one pixel", || {
        let told = browser.run(
            "const card = document.getElementById('pixel-card'); \
             return card.dataset.value === undefined ? null : \
               {value: Number(card.dataset.value), sum: Number(card.dataset.sum), \
                field: card.dataset.field, text: card.textContent};",
        );
        (!told.is_null()).then_some(told)
    });
    let (value, sum) = (
        told["value"].as_f64().unwrap(),
        told["sum"].as_f64().unwrap(),
    );
    println!(
        "inside one pixel: value {value}, sum {sum}, field {}",
        told["field"]
    );
    assert!(value > 0.0, "the brightest pixel is lit: {told}");
    assert!(
        (value - sum).abs() <= 1e-4,
        "the sum shown is the map's value: {told}"
    );
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("5x5 receptive field"),
        "{told}"
    );
    browser.run("document.getElementById('maps-card').scrollIntoView();");
    let pixel = browser.screenshot("serve-pixel.png");

    // The shift curves: one line per model, nine points each.
    browser.run("document.getElementById('measure').click();");
    let points = wait_for("the shift curve", || {
        let points = browser.run(
            "const line = document.querySelector('#curve polyline.curve'); \
             return line ? line.getAttribute('points').trim().split(' ').length : null;",
        );
        points.as_u64()
    });
    assert_eq!(points, 9, "shifts 0 to 8");
    browser.run("document.getElementById('shifts-card').scrollIntoView();");
    let shifts = browser.screenshot("serve-shifts.png");

    // A random test digit, then the phone-sized page.
    browser.run("document.getElementById('random').click();");
    wait_for("a random test digit", || {
        let truth = browser.run("return document.getElementById('truth').textContent;");
        truth
            .as_str()
            .filter(|t| t.contains("true label"))
            .map(str::to_owned)
    });
    browser.resize(390, 2400);
    std::thread::sleep(Duration::from_millis(300));
    let phone = browser.screenshot("serve-phone.png");
    println!(
        "screenshots: {}, {}, {} and {}",
        laptop.display(),
        pixel.display(),
        shifts.display(),
        phone.display()
    );
}

/// A link holds the page's state (issue 36, part 5): the address a teacher copies opens the same
/// model, shift, class, test digit and curves; and the page writes its state back into its
/// address as it changes.
#[test]
fn a_shared_address_opens_the_same_view() {
    let Some((driver, chromium)) = browser_or_say() else {
        return;
    };
    let server = Server::start(&[model_dir(), committee_dir()]);
    let (_, models) = get(&server.url("/api/models"));
    let second = models[1]["name"].as_str().unwrap().to_string();
    let browser = Browser::start(&driver, &chromium);
    browser.resize(1280, 1900);
    let shared = format!("/?model={second}&dx=3&dy=-2&class=4&sample=18&curves=50#shifts-card");
    browser.call("POST", "/url", json!({"url": server.url(&shared)}));
    let view = wait_for("the shared view", || {
        let view = browser.run(READ_STATE);
        (view["class_drawn"] == "4" && view["curve_points"] == 9).then_some(view)
    });
    println!("the shared address opens: {view}");
    assert_eq!(view["model"], second.as_str(), "{view}");
    assert_eq!(
        (view["dx"].as_str(), view["dy"].as_str()),
        (Some("3"), Some("-2"))
    );
    assert!(
        view["truth"]
            .as_str()
            .unwrap()
            .contains("MNIST test image 18"),
        "{view}"
    );

    // Back to the first model and no shift: the address follows.
    browser.run(
        "const model = document.getElementById('model'); \
         model.selectedIndex = 0; model.dispatchEvent(new Event('change')); \
         document.getElementById('center').click();",
    );
    let address = wait_for("the address to follow", || {
        let address = browser.run("return location.search + location.hash;");
        let address = address.as_str()?.to_string();
        (!address.contains(&second) && !address.contains("dx=")).then_some(address)
    });
    println!("after the changes: {address}");
    let first = models[0]["name"].as_str().unwrap();
    assert!(address.contains(&format!("model={first}")), "{address}");
    assert!(
        address.contains("sample=18") && address.contains("class=4"),
        "{address}"
    );
    assert!(address.ends_with("#shifts-card"), "{address}");
}

/// The state the page shows: the model picked, the shift, the true-label line, the class of the
/// drawn saliency maps and the points of the first shift curve.
const READ_STATE: &str = r#"
    const line = document.querySelector('#curve polyline.curve');
    return {model: document.getElementById('model').value,
            dx: document.getElementById('dx').value, dy: document.getElementById('dy').value,
            truth: document.getElementById('truth').textContent,
            class_drawn: document.getElementById('attention-card').dataset.class ?? null,
            curve_points: line ? line.getAttribute('points').trim().split(' ').length : null};
"#;
