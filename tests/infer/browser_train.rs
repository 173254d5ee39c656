//! "Train here" in a real browser (headless Chromium, as `browser.rs` drives it): the form
//! built from the training tool's options, a small training started from the page, the curve
//! gaining points as the events arrive, the kernels and the drawn digit's answer from the
//! network being trained, and the finished model in the picker. The screenshot of the card is
//! saved as `target/tmp/serve-train.png`.

use std::time::Duration;

use serde_json::json;

use super::browser::{Browser, browser_or_say, wait_for};
use super::common::model_dir;
use super::serve::{Server, get};

/// The Train card as the page shows it.
const READ_TRAINING: &str = r#"
    const card = document.getElementById('train-card');
    const curve = document.querySelectorAll('#train-curve polyline');
    return {status: card.dataset.status ?? null, run: card.dataset.run ?? null,
            points: Number(card.dataset.points ?? 0), epochs: Number(card.dataset.epochs ?? 0),
            lines: curve.length,
            kernels: document.querySelectorAll('#train-kernels canvas').length,
            answer: document.getElementById('train-answer').dataset.digit ?? null,
            text: document.getElementById('train-status').textContent,
            picker: [...document.getElementById('model').options].map((o) => o.value),
            form: [...document.getElementById('train-form').elements].map((e) => e.name)};
"#;

#[test]
fn a_training_started_from_the_page_draws_its_curve_and_joins_the_picker() {
    let Some((driver, chromium)) = browser_or_say() else {
        return;
    };
    let runs = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("browser-train-{}", std::process::id()));
    std::fs::remove_dir_all(&runs).ok();
    let server = Server::start_with(&[model_dir()], &["--runs", runs.to_str().unwrap()]);
    let browser = Browser::start(&driver, &chromium);
    browser.resize(1280, 1400);
    // A test digit on the pad, and a small run set in the form through the address.
    browser.call(
        "POST",
        "/url",
        json!({"url": server.url("/?sample=0&t.epochs=3&t.train-limit=3000&t.test-limit=500#train-card")}),
    );
    wait_for("the page", || {
        (browser.run("return document.body.dataset.ready === 'true';") == json!(true)).then_some(())
    });
    let form = browser.run(READ_TRAINING)["form"].clone();
    for field in [
        "model",
        "optimizer",
        "lr",
        "batch-size",
        "epochs",
        "train-limit",
        "pool",
    ] {
        assert!(
            form.as_array().unwrap().iter().any(|f| f == field),
            "{field} in {form}"
        );
    }
    assert_eq!(
        browser.run("return document.querySelector('#train-form [name=epochs]').value;"),
        "3"
    );

    browser.run("document.getElementById('train-start').click();");
    let running = wait_for("the curve's first points", || {
        let card = browser.run(READ_TRAINING);
        (card["points"].as_u64()? > 0).then_some(card)
    });
    println!("while it trains: {running}");
    let ended = wait_for("the run's end", || {
        let card = browser.run(READ_TRAINING);
        (card["status"] == "finished").then_some(card)
    });
    println!("when it ended: {ended}");
    let name = ended["run"].as_str().unwrap();
    assert_eq!(ended["epochs"], 3, "every epoch on the curve: {ended}");
    assert!(ended["points"].as_u64().unwrap() >= 3, "{ended}");
    assert_eq!(ended["lines"], 2, "the loss and accuracy lines: {ended}");
    assert_eq!(ended["kernels"], 6, "LeNet-5's six conv1 kernels: {ended}");
    assert!(ended["answer"].is_string(), "the digit's answer: {ended}");
    let picker = wait_for("the model in the picker", || {
        let card = browser.run(READ_TRAINING);
        card["picker"]
            .as_array()?
            .iter()
            .any(|n| n == name)
            .then(|| card["picker"].clone())
    });
    let (_, models) = get(&server.url("/api/models"));
    assert_eq!(
        picker.as_array().unwrap().len(),
        models.as_array().unwrap().len()
    );
    let (_, state) = get(&server.url("/api/train"));
    let accuracy = state["run"]["test_accuracy"].as_f64().unwrap();
    assert!(
        ended["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{accuracy:.2}%")),
        "the status tells the test accuracy {accuracy}: {ended}"
    );

    browser.run("document.getElementById('train-card').scrollIntoView();");
    std::thread::sleep(Duration::from_millis(200));
    let shot = browser.screenshot("serve-train.png");
    println!("screenshot: {}", shot.display());
}
