//! Inside one pixel (issue 36, part 2): `POST /api/pixel` over real HTTP. The first layer's
//! sum of products plus bias, after the ReLU, is the feature map's value `/api/predict` gives;
//! the receptive fields are the textbook's (5x5 for LeNet-5's conv1, clipped at the border;
//! 14x14 for its conv2); the output sizes carry their formulas; bad pixels are refused.

use mnist_data::{IMAGE_PIXELS, Mnist, bundled_data_dir, normalize_pixel};
use serde_json::Value;

use super::common::model_dir;
use super::serve::{Server, pixels_json, post};

fn story(server: &Server, query: &str, body: &[u8]) -> Value {
    let (status, answer) = post(
        &server.url(&format!("/api/pixel?{query}")),
        "application/json",
        body,
    );
    assert_eq!(status, 200, "{query}: {answer}");
    answer
}

fn field(story: &Value) -> [u64; 5] {
    ["left", "top", "right", "bottom", "side"].map(|k| story["field"][k].as_u64().unwrap())
}

#[test]
fn the_first_layers_sum_is_the_maps_value_and_the_fields_are_the_textbooks() {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let server = Server::start(&[model_dir()]);
    let pixels = test.image(0);
    let body = pixels_json(pixels);
    let (status, look) = post(
        &server.url("/api/predict?maps=true"),
        "application/json",
        &body,
    );
    assert_eq!(status, 200, "{look}");
    let conv1 = &look["maps"][0];
    let side = conv1["width"].as_u64().unwrap() as usize;
    let values: Vec<f64> = serde_json::from_value(conv1["values"].clone()).unwrap();

    // Each map's brightest pixel (a sum the ReLU keeps), and pixels at the borders.
    let mut pixels_checked: Vec<(usize, usize, usize)> = (0..values.len() / (side * side))
        .map(|channel| {
            let map = &values[channel * side * side..(channel + 1) * side * side];
            let brightest = (0..map.len())
                .max_by(|&a, &b| map[a].total_cmp(&map[b]))
                .unwrap();
            assert!(map[brightest] > 0.0, "map {channel} is dark");
            (channel, brightest % side, brightest / side)
        })
        .collect();
    pixels_checked.extend([(5, 0, 0), (3, 27, 20), (1, 0, 27)]);
    for (channel, x, y) in pixels_checked {
        let answer = story(
            &server,
            &format!("layer=1&channel={channel}&x={x}&y={y}"),
            &body,
        );
        let map_value = values[(channel * side + y) * side + x];
        let products = &answer["products"];
        let sum = products["sum"].as_f64().unwrap();
        println!("conv1 map {channel} ({x}, {y}): sum {sum}, map {map_value}");
        assert!((answer["value"].as_f64().unwrap() - map_value).abs() <= 1e-6);
        assert!(
            (sum.max(0.0) - map_value).abs() <= 1e-4,
            "map {channel} ({x}, {y}): ReLU({sum}) vs the map's {map_value}"
        );
        // The window is the input under the kernel, 0 in the padding.
        let window: Vec<f32> = serde_json::from_value(products["window"].clone()).unwrap();
        assert_eq!(window.len(), 25);
        for (i, &value) in window.iter().enumerate() {
            let (row, col) = (
                y as isize + i as isize / 5 - 2,
                x as isize + i as isize % 5 - 2,
            );
            let expected = if (0..28).contains(&row) && (0..28).contains(&col) {
                normalize_pixel(pixels[row as usize * 28 + col as usize])
            } else {
                0.0
            };
            assert_eq!(value, expected, "window {i} of ({x}, {y})");
        }
        let [left, top, right, bottom, field_side] = field(&answer);
        assert_eq!(field_side, 5);
        assert_eq!(
            [left, top, right, bottom],
            [
                x.saturating_sub(2) as u64,
                y.saturating_sub(2) as u64,
                (x + 2).min(27) as u64,
                (y + 2).min(27) as u64
            ]
        );
    }

    // conv2 sees 14x14 through conv1 and pool1: output (0, 0) from -2 to 11, clipped.
    let answer = story(&server, "layer=2&channel=15&x=0&y=0", &body);
    assert_eq!(field(&answer), [0, 0, 11, 11, 14]);
    assert!(answer["products"].is_null(), "the sum is conv1's only");
    let answer = story(&server, "layer=2&channel=0&x=9&y=4", &body);
    assert_eq!(field(&answer), [16, 6, 27, 19, 14]);
    let sizes: Vec<String> = answer["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["layer"].as_str().unwrap(),
                s["formula"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            "conv1: (28 - 5 + 2*2)/1 + 1 = 28",
            "pool1: (28 - 2 + 2*0)/2 + 1 = 14",
            "conv2: (14 - 5 + 2*0)/1 + 1 = 10",
            "pool2: (10 - 2 + 2*0)/2 + 1 = 5",
        ]
    );

    for (query, expected) in [
        ("layer=3&channel=0&x=0&y=0", "layer = 3"),
        ("layer=0&channel=0&x=0&y=0", "layer = 0"),
        ("layer=1&channel=6&x=0&y=0", "channel = 6"),
        ("layer=2&channel=0&x=10&y=0", "x = 10"),
        ("layer=1&channel=0&x=0", "y"),
    ] {
        let (status, answer) = post(
            &server.url(&format!("/api/pixel?{query}")),
            "application/json",
            &body,
        );
        assert_eq!(status, 400, "{query}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{query}: {error}");
    }
    let blank = pixels_json(&[0; IMAGE_PIXELS]);
    let (status, _) = post(
        &server.url("/api/pixel?layer=1&channel=0&x=0&y=0"),
        "application/json",
        &blank,
    );
    assert_eq!(status, 422, "a blank image");
}
